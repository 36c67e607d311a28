/* The paper's Section 5 claims beside our numbers, and report.html: one
 * self-contained page (figures embedded as data: URIs) that a reader can
 * mail or archive without the run directory. */
#include "probes/paper5_internal.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* held: 1 / 0 by the rule, -1 when there is no verdict; NaN ours: not measured */
static int add(sgd_paper5_result *r, const char *sec, const char *setting, const char *claim, const char *paper,
               double ours, const char *fmt, int held)
{
    sgd_paper5_claim *q = realloc(r->claim, (r->nclaims + 1) * sizeof *q);
    if (!q) return sgd_error(SGD_ENOMEM, "out of memory");
    r->claim = q;
    q += r->nclaims++;
    memset(q, 0, sizeof *q);
    snprintf(q->section, sizeof q->section, "%s", sec);
    snprintf(q->setting, sizeof q->setting, "%s", setting);
    snprintf(q->claim, sizeof q->claim, "%s", claim);
    snprintf(q->paper, sizeof q->paper, "%s", paper);
    q->ours = ours;
    if (isnan(ours)) snprintf(q->ours_text, sizeof q->ours_text, "not measured");
    else snprintf(q->ours_text, sizeof q->ours_text, fmt, ours);
    q->held = isnan(ours) ? -1 : held;
    return SGD_OK;
}

static double get(const sgd_json *j, const char *key)
{
    double v = NAN;
    if (!j || sgd_json_get_num(j, key, &v)) return NAN;
    return v;
}

static sgd_json *load(const char *work, const char *stage, const char *file)
{
    char path[4600];
    snprintf(path, sizeof path, "%s/%s/%s", work, stage, file);
    sgd_json *j = sgd_json_load(path);
    if (!j) sgd_error_clear(); /* a stage that is not there is "not measured" */
    return j;
}

static int claims51(const char *work, const char *model, const char *sched, sgd_paper5_result *r)
{
    char stage[256], setting[96];
    paper5_stage_name("s51", model, sched, stage, sizeof stage);
    snprintf(setting, sizeof setting, "%s, %s", model, sched);
    sgd_json *j = load(work, stage, "probe/summary.json");
    double a = get(j, "claims.fraction_epochs_ge5_min_inner_positive");
    double b = get(j, "claims.fraction_epochs_neighborhood_min_positive");
    double h = get(j, "claims.fraction_epochs_hoeffding_lower_positive");
    double s = get(j, "claims.max_step_bound");
    sgd_json_free(j);
    int rc = add(r, "5.1", setting, "<-grad f(x_t), x_T - x_t> > 0 at every epoch t >= 5 (minimum over trials)",
                 "every epoch", a, "%.3g of the epochs", a == 1);
    if (!rc)
        rc = add(r, "5.2", setting, "<-grad f(w), x_T - x_t> > 0 at every point w of the ball of radius 0.5",
                 "every epoch", b, "%.3g of the epochs", b == 1);
    if (!rc)
        rc = add(r, "5.2", setting, "Assumption 1 holds with high probability (Hoeffding lower bound > 0)",
                 "every epoch", h, "%.3g of the epochs", h == 1);
    if (!rc) rc = add(r, "5c", setting, "the SGD step lr_t max|g| stays within the radius", "<= 0.5", s, "%.3g", s <= 0.5);
    return rc;
}

static int claims53(const char *work, const char *model, sgd_paper5_result *r)
{
    char stage[256];
    paper5_stage_name("s53", model, NULL, stage, sizeof stage);
    sgd_json *j = load(work, stage, "summary.json");
    double f = get(j, "claims.fraction_nonpositive_others"), d = get(j, "claims.min_pairwise_distance");
    sgd_json_free(j);
    int rc = add(r, "5.3", model,
                 "<-grad f(x_t^i), x_T^j - x_t^i> > 0 for almost every epoch t, branch i and other final j",
                 "<= 0.1% not positive", f, "%.3g not positive", f <= 0.001);
    /* "far apart" has a scale that depends on the net and the data: no verdict */
    if (!rc) rc = add(r, "5.3", model, "the branches' finals are far apart (minimum pairwise distance)", "40", d, "%.3g", -1);
    return rc;
}

static int claims54(const char *work, const char *model, sgd_paper5_result *r)
{
    char stage[256];
    paper5_stage_name("s54", model, NULL, stage, sizeof stage);
    sgd_json *j = load(work, stage, "summary.json");
    double tl = get(j, "claims.spearman_start_train_loss"), vl = get(j, "claims.spearman_start_val_loss");
    double di = get(j, "claims.spearman_start_dist_init"), op = get(j, "claims.fraction_minima_onepoint");
    sgd_json_free(j);
    int rc = add(r, "5.4", model, "a later start gives a minimum of lower training loss (Spearman with the start)",
                 "< 0 (Fig. 6a, 6b)", tl, "%.3g", tl < 0);
    if (!rc)
        rc = add(r, "5.4", model, "a later start gives a minimum of lower validation loss", "< 0 (Fig. 6a, 6b)", vl,
                 "%.3g", vl < 0);
    if (!rc)
        rc = add(r, "5.4", model, "a later start gives a minimum farther from the initialisation", "> 0 (Fig. 6c)", di,
                 "%.3g", di > 0);
    if (!rc)
        rc = add(r, "5.4", model, "every fine-tune trajectory is one point convex towards its minimum", "all minima", op,
                 "%.3g of the minima", op == 1);
    return rc;
}

int paper5_claims(const char *work, const sgd_paper5_preset *P, sgd_paper5_result *r)
{
    int rc = SGD_OK;
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS && !rc; m++)
        for (int s = 0; s < SGD_PAPER5_MAX_SCHEDULES && !rc && P->models[m]; s++)
            if (P->schedules[s]) rc = claims51(work, P->models[m], P->schedules[s], r);
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS && !rc; m++)
        if (P->small[m]) {
            rc = claims53(work, P->small[m], r);
            if (!rc) rc = claims54(work, P->small[m], r);
        }
    return rc;
}

static const char *verdict(int held) { return held == 1 ? "held" : held == 0 ? "not held" : "no verdict"; }

/* ---- report.html -------------------------------------------------------- */
static void html_text(FILE *fp, const char *s)
{
    for (; *s; s++)
        if (*s == '<') fputs("&lt;", fp);
        else if (*s == '>') fputs("&gt;", fp);
        else if (*s == '&') fputs("&amp;", fp);
        else fputc(*s, fp);
}

/* A PNG of the run directory as an <img> with a data: URI (RFC 4648 base64). */
static void html_figure(FILE *fp, const char *work, const char *rel, const char *caption)
{
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char path[4600], *png = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s", work, rel);
    fputs("<figure>", fp);
    if (sgd_read_file(path, &png, &n)) {
        sgd_error_clear();
        fputs("<p class=missing>not drawn (gnuplot missing?): ", fp);
        html_text(fp, rel);
        fputs("</p>", fp);
    } else {
        fputs("<img alt=\"", fp);
        html_text(fp, rel);
        fputs("\" src=\"data:image/png;base64,", fp);
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)(unsigned char)png[i] << 16;
            if (i + 1 < n) v |= (unsigned)(unsigned char)png[i + 1] << 8;
            if (i + 2 < n) v |= (unsigned)(unsigned char)png[i + 2];
            fputc(B64[v >> 18 & 63], fp);
            fputc(B64[v >> 12 & 63], fp);
            fputc(i + 1 < n ? B64[v >> 6 & 63] : '=', fp);
            fputc(i + 2 < n ? B64[v & 63] : '=', fp);
        }
        fputs("\">", fp);
    }
    free(png);
    fputs("<figcaption>", fp);
    html_text(fp, caption);
    fputs(" (", fp);
    html_text(fp, rel);
    fputs(")</figcaption></figure>\n", fp);
}

static void html_claims(FILE *fp, const sgd_paper5_result *r)
{
    fputs("<table><tr><th>§</th><th>setting</th><th>the paper's claim</th><th>paper</th><th>ours</th><th></th></tr>\n",
          fp);
    for (size_t i = 0; i < r->nclaims; i++) {
        const sgd_paper5_claim *q = &r->claim[i];
        const char *cls = q->held == 1 ? "held" : q->held == 0 ? "not" : "none";
        const char *cells[5] = {q->section, q->setting, q->claim, q->paper, q->ours_text};
        fputs("<tr>", fp);
        for (int k = 0; k < 5; k++) {
            fputs("<td>", fp);
            html_text(fp, cells[k]);
            fputs("</td>", fp);
        }
        fprintf(fp, "<td class=%s>%s</td></tr>\n", cls, verdict(q->held));
    }
    fputs("</table>\n", fp);
}

static int write_html(const char *dir, const sgd_paper5_config *c, const sgd_paper5_result *r)
{
    const sgd_paper5_preset *P = r->preset;
    char path[4400], rel[600], slug[200], cap[400];
    snprintf(path, sizeof path, "%s/report.html", dir);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    FILE *fp = af.fp;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sgdscape paper5</title><style>\n"
          "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}\n"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}\n"
          ".held{background:#d8f0d8}.not{background:#f6d6d6}.none{background:#eee}\n"
          "figure{display:inline-block;margin:8px;width:520px}img{width:100%}.missing{color:#a00}\n"
          "</style></head><body>\n<h1>Section 5 of Kleinberg, Li and Yuan (ICML 2018), measured</h1>\n",
          fp);
    fputs("<p>Preset <b>", fp);
    html_text(fp, P->name);
    fputs("</b> on <b>", fp);
    html_text(fp, c->data);
    fprintf(fp, "</b>, seed %llu: %d trials of %d epochs per setting; %d branches of %d epochs after %d shared; "
                "fine-tunes of %d epochs from starts ",
            (unsigned long long)c->seed, P->trials, P->epochs, P->branches, P->branch_epochs, P->shared_epochs,
            P->fine_epochs);
    html_text(fp, P->starts);
    fprintf(fp, " of a %d-epoch run. Every number below is recomputed from the stage directories beside this page "
                "(manifest.json holds every parameter).</p>\n<h2>Claims</h2>\n",
            P->spectrum_epochs);
    html_claims(fp, r);
    fputs("<h2>5.1, 5.2, Figure 5: the trajectory and its neighbourhood are one point convex</h2>\n", fp);
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS; m++)
        for (int s = 0; s < SGD_PAPER5_MAX_SCHEDULES && P->models[m]; s++) {
            if (!P->schedules[s]) continue;
            paper5_stage_name("s51", P->models[m], P->schedules[s], slug, sizeof slug);
            static const char *const F[4][2] = {{"probe/fig5a.png", "Fig. 5a"},
                                                {"probe/fig5b.png", "Fig. 5b"},
                                                {"probe/fig5c.png", "Fig. 5c"},
                                                {"trial0/train.png", "trial 0's training"}};
            for (int k = 0; k < 4; k++) {
                snprintf(rel, sizeof rel, "%s/%s", slug, F[k][0]);
                snprintf(cap, sizeof cap, "%s: %s, %s", F[k][1], P->models[m], P->schedules[s]);
                html_figure(fp, dir, rel, cap);
            }
        }
    fputs("<h2>5.3: the loss surface is locally a slope; 5.4, Figure 6: the spectrum of local minima</h2>\n", fp);
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS; m++) {
        if (!P->small[m]) continue;
        char s53[200], s54[200];
        paper5_stage_name("s53", P->small[m], NULL, s53, sizeof s53);
        paper5_stage_name("s54", P->small[m], NULL, s54, sizeof s54);
        static const char *const F[6][2] = {{"branch_hist.png", "5.3 inner products"},
                                            {"branch_heat.png", "5.3 min over epochs, branch x final"},
                                            {"fig6a.png", "Fig. 6a"},
                                            {"fig6b.png", "Fig. 6b"},
                                            {"fig6c.png", "Fig. 6c"},
                                            {"fig6d.png", "Fig. 6d"}};
        for (int k = 0; k < 6; k++) {
            snprintf(rel, sizeof rel, "%s/%s", k < 2 ? s53 : s54, F[k][0]);
            snprintf(cap, sizeof cap, "%s: %s", F[k][1], P->small[m]);
            html_figure(fp, dir, rel, cap);
        }
    }
    fputs("</body></html>\n", fp);
    return sgd_afile_commit(&af);
}

static int write_csv(const char *dir, const sgd_paper5_result *r)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/claims.csv", dir);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    fputs("section,setting,claim,paper,ours,verdict\n", af.fp);
    for (size_t i = 0; i < r->nclaims; i++) {
        const sgd_paper5_claim *q = &r->claim[i];
        /* text fields quoted (they hold commas); no field holds a quote */
        fprintf(af.fp, "%s,\"%s\",\"%s\",\"%s\",", q->section, q->setting, q->claim, q->paper);
        if (isnan(q->ours)) fputs("nan", af.fp);
        else fprintf(af.fp, "%.17g", q->ours);
        fprintf(af.fp, ",%s\n", verdict(q->held));
    }
    return sgd_afile_commit(&af);
}

int sgd_paper5_write(const char *dir, const sgd_paper5_config *c, const sgd_paper5_result *r)
{
    const sgd_paper5_preset *P = r->preset;
    int rc = write_csv(dir, r);
    if (!rc) rc = write_html(dir, c, r);
    if (rc) return rc;
    sgd_json *s = sgd_json_new();
    size_t held = 0, not_held = 0;
    for (size_t i = 0; i < r->nclaims; i++) {
        const sgd_paper5_claim *q = &r->claim[i];
        held += q->held == 1;
        not_held += q->held == 0;
        sgd_json *o = sgd_json_arr_obj(s, "claims");
        sgd_json_str(o, "section", q->section);
        sgd_json_str(o, "setting", q->setting);
        sgd_json_str(o, "claim", q->claim);
        sgd_json_str(o, "paper", q->paper);
        sgd_json_num(o, "ours", q->ours);
        sgd_json_str(o, "verdict", verdict(q->held));
    }
    sgd_json_int(s, "held", (long long)held);
    sgd_json_int(s, "not_held", (long long)not_held);
    sgd_json_int(s, "stages_run", (long long)r->stages);
    sgd_json_int(s, "stages_skipped", (long long)r->stages_skipped);
    sgd_json_num(s, "seconds", r->seconds);
    if ((rc = sgd_json_write_free(s, dir, "summary.json"))) return rc;
    sgd_json *j = sgd_json_new();
    sgd_json_manifest_header(j, c->argc, c->argv, c->threads);
    sgd_json_str(j, "experiment", "paper5");
    sgd_json_str(j, "preset", P->name);
    sgd_json_str(j, "data", c->data);
    sgd_json_int(j, "seed", (long long)c->seed);
    sgd_json *p = sgd_json_obj(j, "settings");
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS; m++) {
        if (P->models[m]) sgd_json_str(sgd_json_arr_obj(p, "models"), "spec", P->models[m]);
        if (P->small[m]) sgd_json_str(sgd_json_arr_obj(p, "small_models"), "spec", P->small[m]);
    }
    for (int k = 0; k < SGD_PAPER5_MAX_SCHEDULES; k++)
        if (P->schedules[k]) sgd_json_str(sgd_json_arr_obj(p, "schedules"), "schedule", P->schedules[k]);
    sgd_json_int(p, "trials", P->trials);
    sgd_json_int(p, "epochs", P->epochs);
    sgd_json_num(p, "lr", P->lr);
    sgd_json_int(p, "batch", (long long)P->batch);
    sgd_json_int(p, "subset", (long long)P->subset);
    sgd_json_int(p, "val_subset", (long long)P->val_subset);
    sgd_json_int(p, "probe_batches", (long long)P->probe_batches);
    sgd_json_int(p, "points", (long long)P->points);
    sgd_json_int(p, "sg_batches", (long long)P->sg_batches);
    sgd_json_int(p, "probe_every", P->probe_every);
    sgd_json_int(p, "shared_epochs", P->shared_epochs);
    sgd_json_int(p, "branches", P->branches);
    sgd_json_int(p, "branch_epochs", P->branch_epochs);
    sgd_json_int(p, "spectrum_epochs", P->spectrum_epochs);
    sgd_json_int(p, "fine_epochs", P->fine_epochs);
    sgd_json_str(p, "starts", P->starts);
    sgd_json_int(p, "measure_batches", (long long)P->measure_batches);
    return sgd_json_write_free(j, dir, "manifest.json");
}
