/* Figure 3's outcome table, for several seeds, at a reduced step count. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/fig3.h"

int main(void)
{
    sgd_landscape *f = sgd_landscape_create("spiky", 1);
    CHECK(f != NULL);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        sgd_fig3_config c;
        sgd_fig3_defaults(&c, f);
        c.seed = seed;
        c.steps = 2000;
        c.threads = 2;
        sgd_fig3_result r;
        int rc = sgd_fig3_run(&c, &r, NULL, NULL);
        CHECK(rc == SGD_OK);
        if (rc) continue;
        const sgd_trials_stats *gd = &r.panel[0].stats, *small = &r.panel[1].stats, *med = &r.panel[2].stats,
                               *large = &r.panel[3].stats, *last = &r.panel[6].stats;
        printf("seed %llu: GD %.2f/%zu small %.2f medium %.2f large %.2f  mean|x| medium %.3f last stage %.3f\n",
               (unsigned long long)seed, gd->fraction_within[0], gd->distinct_endpoints, small->fraction_within[0],
               med->fraction_within[0], large->fraction_within[0], med->mean_dist, last->mean_dist);
        CHECK(gd->distinct_endpoints >= 10);
        CHECK(gd->fraction_within[0] < 0.5);
        CHECK(small->fraction_within[0] <= 0.8);   /* at least 20% still outside */
        CHECK(med->fraction_within[0] >= 0.95);
        CHECK(large->fraction_within[0] < 0.6);
        CHECK(last->mean_dist <= 0.25 * med->mean_dist);
        for (int p = 0; p < SGD_FIG3_PANELS; p++) CHECK(r.panel[p].stats.diverged == 0);
        sgd_fig3_result_free(&r);
    }
    sgd_landscape_free(f);
    return check_done();
}
