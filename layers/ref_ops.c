/* ref_ops.c: see ref_ops.h. */
#include "ref_ops.h"

#include <math.h>

void ref_linear(const float *x, const float *W, float *y, int M, int K, int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)m * K + k] * W[(size_t)n * K + k];
            y[(size_t)m * N + n] = (float)s;
        }
}

void ref_matmul(const float *x, const float *W, float *y, int M, int K, int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)m * K + k] * W[(size_t)k * N + n];
            y[(size_t)m * N + n] = (float)s;
        }
}

void ref_layernorm(const float *x, const float *w, const float *b, float *y, size_t rows, int n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double mu = 0, var = 0;
        for (int i = 0; i < n; i++) mu += xr[i];
        mu /= n;
        for (int i = 0; i < n; i++) var += (xr[i] - mu) * (xr[i] - mu);
        var /= n;
        double inv = 1.0 / sqrt(var + eps);
        for (int i = 0; i < n; i++)
            y[r * n + i] = (float)((xr[i] - mu) * inv * w[i] + (b ? b[i] : 0.0f));
    }
}

void ref_rmsnorm(const float *x, const float *w, float *y, size_t rows, int n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        double inv = 1.0 / sqrt(ss / n + eps);
        for (int i = 0; i < n; i++) y[r * n + i] = (float)(xr[i] * inv * w[i]);
    }
}

void ref_rope_half(float *v, int d, int p, float theta) {
    for (int j = 0; j < d / 2; j++) {
        double ang = p * pow(theta, -2.0 * j / d);
        double c = cos(ang), s = sin(ang), a = v[j], b = v[j + d / 2];
        v[j] = (float)(a * c - b * s);
        v[j + d / 2] = (float)(b * c + a * s);
    }
}

void ref_rope_interleaved(float *v, int d, int p, float theta) {
    for (int j = 0; j < d / 2; j++) {
        double ang = p * pow(theta, -2.0 * j / d);
        double c = cos(ang), s = sin(ang), a = v[2 * j], b = v[2 * j + 1];
        v[2 * j] = (float)(a * c - b * s);
        v[2 * j + 1] = (float)(b * c + a * s);
    }
}

void ref_causal_conv(const float *x, int ldx, const float *w, const float *bias, float *y, int ldy,
                     int T, int C, int K, const float *hist) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double s = bias ? bias[c] : 0.0;
            for (int i = 0; i < K; i++) {
                int src = t - (K - 1) + i; /* w[c,K-1] multiplies the current token */
                float v;
                if (src >= 0) v = x[(size_t)src * ldx + c];
                else v = hist ? hist[(size_t)c * (K - 1) + (K - 1 + src)] : 0.0f;
                s += (double)w[(size_t)c * K + i] * v;
            }
            y[(size_t)t * ldy + c] = (float)s;
        }
}

float ref_sigmoid(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }
float ref_silu(float x) { return x * ref_sigmoid(x); }
/* PyTorch softplus with threshold 20: identity above it */
float ref_softplus(float x) { return x > 20.0f ? x : (float)log1p(exp((double)x)); }

/* The reference's constants: sqrt(2/pi) = 0.79788456, 0.044715; derivative as in ttt.py */
float ref_gelu_tanh(float x) {
    double t = tanh(0.79788456 * x * (1.0 + 0.044715 * (double)x * x));
    return (float)(0.5 * x * (1.0 + t));
}
float ref_gelu_tanh_grad(float x) {
    double t = tanh(0.79788456 * x * (1.0 + 0.044715 * (double)x * x));
    return (float)(0.5 * x * (1.0 - t * t) * (0.79788456 + 0.1070322243 * (double)x * x) + 0.5 * (1.0 + t));
}
