/* detector.c — the normal-CDF heartbeat detector (see detector.h). */
#include "detector.h"

#include <float.h>
#include <math.h>

double au_detector_z(double p) {
    static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00 };
    static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01, -1.328068155288572e+01 };
    static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00 };
    static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00 };
    if (!(p > 0)) p = 1e-12;
    if (!(p < 1)) p = 1 - 1e-12;
    const double lo = 0.02425;
    double q, r;
    if (p < lo) {
        q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - lo) {
        q = sqrt(-2 * log(1 - p));
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    q = p - 0.5;
    r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static void add(au_detector *d, double x) {
    if (d->capacity == 0) return;
    if (d->len == d->capacity) { /* evict the oldest */
        unsigned oldest = (d->head + d->capacity - d->len) % d->capacity;
        double o = d->samples[oldest];
        d->sum -= o;
        d->sum_sq -= o * o;
        d->len--;
    }
    d->samples[d->head] = x;
    d->head = (d->head + 1) % d->capacity;
    d->len++;
    d->sum += x;
    d->sum_sq += x * x;
}

void au_detector_reset(au_detector *d, unsigned capacity, unsigned times, double initial_ms,
                       uint64_t now) {
    if (capacity > AU_DETECTOR_MAX_CAPACITY) capacity = AU_DETECTOR_MAX_CAPACITY;
    if (capacity == 0) capacity = 1;
    *d = (au_detector){ .capacity = capacity, .last = now };
    for (unsigned i = 0; i < times && d->len < capacity; i++) {
        add(d, initial_ms);
        if (d->len < capacity) add(d, 0);
    }
}

void au_detector_push(au_detector *d, uint64_t now) {
    double ms = now > d->last ? (double)(now - d->last) / 1e6 : 0;
    d->last = now;
    add(d, ms);
}

uint64_t au_detector_timeout(const au_detector *d, double z) {
    if (d->len == 0) return 0;
    double mean = d->sum / d->len;
    double var = d->sum_sq / d->len - mean * mean;
    double sd = var > 0 ? sqrt(var) : 0;
    if (sd < DBL_MIN) sd = DBL_MIN;
    double ms = mean + z * sd;
    if (!(ms > 0) || !isfinite(ms)) return 0;
    return (uint64_t)(ms * 1e6);
}
