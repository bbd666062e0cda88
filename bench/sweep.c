/* sweep.c: `seqbench run` (SPEC §4, §7, §8, §9): plan the points of a preset, measure them one by
 * one (bench/measure.c), write one CSV row per point as soon as it is known (fsync'ed), report
 * progress and ETA on stderr, and print the CSV path on stdout at the end. SIGTERM/SIGINT or a
 * failed write end the sweep early with every finished row kept (bench/interrupt.h).
 *
 * Time budgets (cpu, quick, ci presets, --budget): before a point runs, its cost is predicted
 * from the points measured so far (bench/predict.c). A point predicted to cost more than the
 * preset's per-point budget, or to overrun its total budget, is written as `skipped` with the
 * prediction in the note. The predictions also give the ETA. */
#include "sweep.h"
#include "commands.h"
#include "predict.h"
#include "csvio.h"
#include "hostcpu.h"
#include "interrupt.h"
#include "results.h"
#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- rows ---------------------------------------------------------------------------------- */
typedef struct {
    sb_meta meta;
    int threads[SB_NBACKENDS];
    const sb_run_opts *opts;
    int planned; /* points of the whole plan (a shard measures some of them) */
} run_ctx;

static void fill_meta(sb_row *row, const run_ctx *rc, const sb_point *p) {
    const sb_meta *m = &rc->meta;
    char utc[32];
    sb_utc_now(utc, sizeof utc, 0);
    sb_row_set(row, SB_COL_RUN_ID, "%s", m->run_id);
    sb_row_set(row, SB_COL_UTC, "%s", utc);
    sb_row_set(row, SB_COL_GIT_SHA, "%s", m->git_sha);
    sb_row_set(row, SB_COL_HOST, "%s", m->host);
    sb_row_set(row, SB_COL_CPU_MODEL, "%s", m->cpu_model);
    sb_row_int(row, SB_COL_THREADS, rc->threads[p->backend]);
    if (p->backend == SB_CPU) sb_row_set(row, SB_COL_BLAS, "%s", m->blas);
    if (m->have_gpu) {
        sb_row_set(row, SB_COL_GPU, "%s", m->gpu.name);
        sb_row_int(row, SB_COL_GPU_SMS, m->gpu.sms);
        sb_row_set(row, SB_COL_CUDA, "%s", m->cuda);
        sb_row_set(row, SB_COL_DRIVER, "%s", m->driver);
    }
    const sb_shard *sh = &rc->opts->shard;
    if (sh->count) { /* seqbench merge reads the plan's size and preset back from the note */
        sb_row_set(row, SB_COL_SHARD, "%d/%d", sh->index, sh->count);
        sb_row_note(row, "shard %d/%d of the %d points of preset %s", sh->index, sh->count, rc->planned, rc->opts->preset->name);
    }
}

static void fill_point(sb_row *row, const sb_point *p, const sb_point_result *r) {
    sb_row_set(row, SB_COL_BACKEND, "%s", sb_backend_name(p->backend));
    sb_row_set(row, SB_COL_LAYER, "%s", p->desc->name);
    sb_row_set(row, SB_COL_IMPL, "%s%s", p->impl->name, r && r->graph ? "+graph" : "");
    sb_row_set(row, SB_COL_LEVEL, "%s", sb_level_name(p->level));
    sb_row_set(row, SB_COL_MODE, "%s", sb_mode_name(p->mode));
    sb_row_set(row, SB_COL_DTYPE, "%s", sb_dtype_name(sb_backend_act_dtype(p->backend)));
    sb_row_set(row, SB_COL_CONFIG, "%s", p->cfg.name);
    sb_row_int(row, SB_COL_BATCH, p->batch);
    sb_row_int(row, SB_COL_CTX, p->ctx);
    sb_row_int(row, SB_COL_D_MODEL, p->cfg.d_model);
    /* the config columns the layer reads (its descriptor's field table); the others are empty
     * cells, "not applicable" */
    const struct { int col; size_t member; int value; } cols[] = {
        {SB_COL_HEADS, offsetof(sb_config, heads), p->cfg.heads},
        {SB_COL_HEAD_DIM, offsetof(sb_config, head_dim), p->cfg.head_dim},
        {SB_COL_D_STATE, offsetof(sb_config, d_state), p->cfg.d_state},
        {SB_COL_MINI_BATCH, offsetof(sb_config, mini_batch), p->cfg.mini_batch},
    };
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        if (sb_config_reads(p->desc, cols[i].member)) sb_row_int(row, cols[i].col, cols[i].value);
    if (p->level == SB_MODEL) sb_row_int(row, SB_COL_N_LAYERS, p->cfg.n_layers);
    double tokens = p->mode == SB_PREFILL ? (double)p->batch * p->ctx : p->batch;
    sb_row_count(row, SB_COL_TOKENS, tokens);
    sb_row_note(row, "FLOPs count a multiply-add as 2");
}

/* Counts (SPEC §6) of every level, from the same function as the budget predictor's. */
static void fill_counts(sb_row *row, const sb_point *p, double *flops, double *bytes) {
    const sb_counts k = sb_point_counts(p, p->mode, p->batch, p->ctx);
    *flops = k.flops;
    *bytes = k.bytes;
    sb_row_count(row, SB_COL_FLOPS, k.flops);
    sb_row_count(row, SB_COL_BYTES, k.bytes);
    sb_row_count(row, SB_COL_STATE_BYTES, k.state_bytes);
}

/* A host row's percentages (SPEC §14): FLOP/s against the hardware's, bandwidth against a read of
 * a buffer of the row's bytes measured in this run (the memory level that holds a working set of
 * this size: a decode step whose weights sit in L3 is measured against L3; the DRAM figure is in
 * the shared note). */
static void fill_cpu_ceilings(sb_row *row, int threads, double tflops, double gbps, double bytes) {
    const sb_cpu_roof *roof = sb_cpu_roofline(threads);
    if (roof->peak_flops > 0) sb_row_num(row, SB_COL_PCT_PEAK_FLOPS, 100 * tflops * 1e12 / roof->peak_flops);
    sb_row_note(row, "%s", roof->note);
    size_t working_set = bytes > 0 ? (size_t)bytes : 0;
    double bw = sb_cpu_read_bw(threads, working_set);
    if (bw <= 0) return;
    sb_row_num(row, SB_COL_PCT_PEAK_BW, 100 * gbps * 1e9 / bw);
    size_t buffer = sb_cpu_read_buffer_bytes(working_set);
    /* no comma: notes stay one plain field */
    sb_row_note(row, "bandwidth ceiling %.4g GB/s = read of a %.4g MiB buffer this run (the row's %.4g MiB %s)", bw / 1e9,
                buffer / 1048576.0, bytes / 1048576.0, buffer < working_set ? "capped" : "rounded up");
}

static void fill_timing(sb_row *row, const run_ctx *rc, const sb_point *p, const sb_point_result *r,
                        double flops, double bytes) {
    const sb_stats *s = &r->stats;
    const sb_meta *m = &rc->meta;
    sb_row_int(row, SB_COL_SAMPLES, s->n);
    sb_row_num(row, SB_COL_MEDIAN_MS, s->median);
    sb_row_num(row, SB_COL_MIN_MS, s->min);
    sb_row_num(row, SB_COL_MAX_MS, s->max);
    sb_row_num(row, SB_COL_NOISE, s->noise);
    double tokens = p->mode == SB_PREFILL ? (double)p->batch * p->ctx : p->batch;
    sb_row_num(row, SB_COL_US_PER_TOKEN, s->median * 1e3 / tokens);
    if (p->backend == SB_CUDA && r->sm_clock_mhz > 0) sb_row_int(row, SB_COL_GPU_CLOCK_MHZ, r->sm_clock_mhz);
    if (r->joules_per_token > 0) {
        sb_row_num(row, SB_COL_JOULES_PER_TOKEN, r->joules_per_token);
        sb_row_num(row, SB_COL_WATTS, r->watts);
    }
    /* cuda: our device allocations' high-water mark; host: the process's peak RSS so far */
    if (r->peak_mem) sb_row_count(row, SB_COL_PEAK_MEM_BYTES, (double)r->peak_mem);
    if (s->median <= 0) return;
    double tflops = flops / (s->median * 1e-3) / 1e12, gbps = bytes / (s->median * 1e-3) / 1e9;
    sb_row_num(row, SB_COL_TFLOPS, tflops);
    sb_row_num(row, SB_COL_GBPS, gbps);
    if (p->backend == SB_CUDA && m->have_gpu) {
        if (m->gpu.peak_bf16_tflops > 0) sb_row_num(row, SB_COL_PCT_PEAK_FLOPS, 100 * tflops / m->gpu.peak_bf16_tflops);
        if (m->gpu.peak_bw_gbps > 0) sb_row_num(row, SB_COL_PCT_PEAK_BW, 100 * gbps / m->gpu.peak_bw_gbps);
    } else if (p->backend != SB_CUDA) {
        fill_cpu_ceilings(row, rc->threads[p->backend], tflops, gbps, bytes);
    }
}

static void build_row(sb_row *row, const run_ctx *rc, const sb_point *p, const sb_point_result *r) {
    memset(row, 0, sizeof *row);
    fill_meta(row, rc, p);
    fill_point(row, p, r);
    double flops, bytes;
    fill_counts(row, p, &flops, &bytes);
    if (r->stats.n > 0) fill_timing(row, rc, p, r, flops, bytes);
    if (r->setup_s > 0) sb_row_num(row, SB_COL_SETUP_S, r->setup_s);
    if (r->note[0]) sb_row_note(row, "%s", r->note);
    sb_row_set(row, SB_COL_STATUS, "%s", r->status);
}

/* ncols: the width of the file's header (a resumed file of an older schema keeps its width). */
static sb_status write_row(int fd, const sb_row *row, int ncols) {
    const char *cells[SB_NCOLS];
    for (int i = 0; i < SB_NCOLS; i++) cells[i] = row->cell[i];
    return sb_csv_append_row(fd, cells, ncols);
}

/* The key of a planned point, impl without a "+..." launch suffix (resume matches on it). */
static void point_key(const sb_point *p, char *buf, size_t sz) {
    sb_row row;
    memset(&row, 0, sizeof row);
    fill_point(&row, p, NULL);
    char *cells[SB_NCOLS];
    for (int i = 0; i < SB_NCOLS; i++) cells[i] = row.cell[i];
    int idx[SB_NKEY];
    for (int k = 0; k < SB_NKEY; k++) idx[k] = (int)sb_key_cols[k];
    sb_key_join(buf, sz, cells, idx);
}

/* ---- output file ----------------------------------------------------------------------------- */
static int mkdir_parents(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return 0;
            *s = '/';
        }
    return 1;
}

static void default_out(const run_ctx *rc, const sb_preset *p, char *out, size_t sz) {
    char slug[160], utc[32], shard[32] = "";
    sb_machine_slug(&rc->meta, slug, sizeof slug);
    sb_utc_now(utc, sizeof utc, 1);
    if (rc->opts->shard.count) snprintf(shard, sizeof shard, "-shard%dof%d", rc->opts->shard.index, rc->opts->shard.count);
    snprintf(out, sz, "results/%s/%s-%s%s.csv", slug, p->name, utc, shard);
}

/* Opens the CSV: a new file with its header, or (resume) the existing one for appending (an empty
 * one, killed before its header was written, starts again). */
static int open_out(const char *path, int resume, int *fd) {
    if (!mkdir_parents(path)) return sb_usage_error("cannot create the folder of %s: %s", path, strerror(errno));
    struct stat st;
    if (resume && stat(path, &st) == 0 && st.st_size == 0) unlink(path);
    if (resume && access(path, F_OK) == 0) {
        *fd = open(path, O_WRONLY | O_APPEND);
        if (*fd < 0) return sb_usage_error("%s: %s", path, strerror(errno));
        return 0;
    }
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (*fd < 0)
        return sb_usage_error("%s: %s%s", path, strerror(errno), errno == EEXIST ? " (use --resume to continue it, or another --out)" : "");
    if (sb_csv_append_row(*fd, sb_col_names, SB_NCOLS) != SB_OK) {
        close(*fd);
        unlink(path);
        return sb_usage_error("%s", sb_last_error());
    }
    return 0;
}

/* ---- progress ---------------------------------------------------------------------------------- */
static void fmt_duration(double s, char *buf, size_t sz) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, sz, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, sz, "%ldm%02lds", t / 60, t % 60);
}

static void progress(int i, int n, const sb_point *p, const sb_row *row, double elapsed, double eta) {
    char e[32], r[32];
    fmt_duration(elapsed, e, sizeof e);
    fmt_duration(eta, r, sizeof r);
    const char *st = row->cell[SB_COL_STATUS];
    fprintf(stderr, "[%*d/%d] %-10s %-12s %-4s %-5s %-7s B=%-3d T=%-6d ", n >= 100 ? 3 : 2, i + 1, n, p->desc->name,
            row->cell[SB_COL_IMPL], sb_backend_name(p->backend), sb_level_name(p->level), sb_mode_name(p->mode), p->batch, p->ctx);
    if (!strcmp(st, "ok"))
        fprintf(stderr, "%10s ms  %8s us/tok  (%s samples, noise %.2f%%)", row->cell[SB_COL_MEDIAN_MS],
                row->cell[SB_COL_US_PER_TOKEN], row->cell[SB_COL_SAMPLES], 100 * atof(row->cell[SB_COL_NOISE]));
    else
        fprintf(stderr, "%s", st);
    fprintf(stderr, "  | elapsed %s, ETA %s\n", e, r);
}

/* ---- seqbench run ------------------------------------------------------------------------------ */
static void dry_run(const sb_point *pts, int n, const sb_run_opts *o, int planned, double share) {
    if (o->shard.count)
        printf("preset %s, shard %d/%d: %d of %d points (%.0f%% of the predicted cost)\n", o->preset->name, o->shard.index,
               o->shard.count, n, planned, 100 * share);
    else
        printf("preset %s: %d points\n", o->preset->name, n);
    for (int i = 0; i < n; i++) {
        char key[1024];
        point_key(&pts[i], key, sizeof key);
        printf("%s\n", key);
    }
}

int cmd_run(int argc, char **argv) {
    sb_run_opts o;
    int rc = sb_parse_run_opts(argc, argv, &o);
    if (rc) return rc;
    sb_point *pts;
    int n = sb_plan_points(&o, &pts), planned = n;
    if (n < 0) return 2;
    double share;
    if ((n = sb_shard_select(pts, n, &o.shard, o.preset, &share)) < 0) { free(pts); return sb_usage_error("out of memory"); }
    if (o.shard.count) fprintf(stderr, "seqbench: shard %d/%d (%s): %d of %d planned points\n", o.shard.index, o.shard.count,
                               o.shard.origin, n, planned);
    if (o.dry_run) { dry_run(pts, n, &o, planned, share); free(pts); return 0; }

    run_ctx ctx = {.opts = &o, .planned = planned};
    sb_meta_collect(&ctx.meta);
    char out[4096];
    if (o.out[0]) snprintf(out, sizeof out, "%s", o.out);
    else default_out(&ctx, o.preset, out, sizeof out);
    sb_resume_state done = {.ncols = SB_NCOLS};
    if (o.resume && (rc = sb_resume_read(out, &done))) { free(pts); return rc; }
    if (done.run_id[0]) snprintf(ctx.meta.run_id, sizeof ctx.meta.run_id, "%s", done.run_id);
    const int ncols = done.ncols;
    int fd = -1;
    if ((rc = open_out(out, o.resume, &fd))) { sb_resume_free(&done); free(pts); return rc; }
    sb_interrupt_install();

    ctx.threads[SB_REF] = sb_pin_threads(SB_REF);
    ctx.threads[SB_CPU] = sb_pin_threads(SB_CPU);
    ctx.threads[SB_CUDA] = 1;
    fprintf(stderr, "seqbench run: preset %s, %d points -> %s (%s, git %s)\n", o.preset->name, n, out, ctx.meta.host,
            ctx.meta.git_sha);

    const sb_preset *ps = o.preset;
    const double budget = o.total_budget_s;
    sb_history h = {0};
    sb_input_cache cache = {0};
    double start = sb_now_s();
    int measured_points = 0, skipped_resume = 0, io_error = 0, written = 0;
    for (int i = 0; i < n && !io_error && !sb_interrupted(); i++) {
        const sb_point *p = &pts[i];
        char key[1024];
        point_key(p, key, sizeof key);
        if (sb_resume_has(&done, key)) { skipped_resume++; continue; }
        double call_s, build_s, cost = sb_predict_point_s(&h, p, &ps->rule, &call_s, &build_s), elapsed = sb_now_s() - start;
        char why[160];
        snprintf(why, sizeof why, "one call ~%.2g s%s", call_s, build_s > 0 ? " after a set-up of ~" : "");
        if (build_s > 0) snprintf(why + strlen(why), sizeof why - strlen(why), "%.2g s", build_s);
        sb_point_result r;
        memset(&r, 0, sizeof r);
        if (ps->point_budget_s > 0 && cost > ps->point_budget_s) {
            snprintf(r.status, sizeof r.status, "skipped");
            snprintf(r.note, sizeof r.note, "predicted %.0f s for this point (%s on %s) > the %s preset's %.0f s per point",
                     cost, why, sb_backend_name(p->backend), ps->name, ps->point_budget_s);
        } else if (budget > 0 && elapsed + cost > budget) {
            snprintf(r.status, sizeof r.status, "skipped");
            snprintf(r.note, sizeof r.note, "predicted %.0f s for this point (%s) would overrun the %.0f s budget (%s)",
                     cost, why, budget, budget == ps->total_budget_s ? ps->name : "--budget");
        } else {
            sb_measure_point(p, &ps->rule, o.seed, &cache, &r);
            if (sb_interrupted()) break; /* the point in flight is dropped: --resume measures it */
            if (r.stats.n > 0) sb_history_add(&h, p, r.stats.median * 1e-3, r.setup_s);
            measured_points++;
        }
        sb_row row;
        build_row(&row, &ctx, p, &r);
        if (write_row(fd, &row, ncols) != SB_OK) {
            fprintf(stderr, "seqbench: %s\n", sb_last_error());
            io_error = 1;
        } else written++;
        double eta = 0;
        for (int j = i + 1; j < n; j++) {
            double c, b, pc = sb_predict_point_s(&h, &pts[j], &ps->rule, &c, &b);
            if (ps->point_budget_s <= 0 || pc <= ps->point_budget_s) eta += pc;
        }
        elapsed = sb_now_s() - start;
        if (budget > 0 && elapsed + eta > budget) eta = budget - elapsed;
        progress(i, n, p, &row, elapsed, eta > 0 ? eta : 0);
    }
    close(fd);
    int sig = sb_interrupted();
    if (sig || io_error) { /* what the file holds, and how to go on */
        fprintf(stderr, "seqbench: %s: %zu rows kept in %s (%d from this run); continue with --out %s --resume\n",
                sig == SIGINT ? "interrupted by SIGINT" : sig ? "interrupted by SIGTERM" : "stopped by the write error",
                done.nkeys + (size_t)written, out, written, out);
    } else {
        if (skipped_resume) fprintf(stderr, "seqbench: resume: %d points were already in %s\n", skipped_resume, out);
        char total[32];
        fmt_duration(sb_now_s() - start, total, sizeof total);
        fprintf(stderr, "seqbench run: %d points measured in %s -> %s\n", measured_points, total, out);
        printf("%s\n", out);
    }
    sb_resume_free(&done);
    sb_history_free(&h);
    free(pts);
    sb_input_cache_free(&cache);
    return sig ? 128 + sig : io_error ? 1 : 0;
}
