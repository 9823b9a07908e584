//! Dividing the server's concurrency among priority levels (upstream `conc_alloc.go` and the
//! seat-demand integrator of `fairqueuing/integrator.go`): every 10 s each Limited level gets a
//! share between its lower bound (nominal minus what it lends) and upper bound (nominal plus
//! what it may borrow), proportional to its smoothed seat demand — borrowing and lending.

use std::time::Instant;

/// One Limited level in the allocation problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    pub target: f64,
    pub lower: f64,
    pub upper: f64,
}

/// `MinTarget` and `epsilon` of upstream.
const MIN_TARGET: f64 = 0.001;
const EPSILON: f64 = 0.000_000_1;

/// `computeConcurrencyAllocation`: allocations summing to `required` with each in
/// `[lower, upper]` and proportional to the targets where the bounds allow; and the fair
/// proportion used.
pub fn compute(required: usize, items: &[Item]) -> Result<(Vec<f64>, f64), String> {
    let required = required as f64;
    let (mut low_sum, mut high_sum, mut target_sum) = (0.0, 0.0, 0.0);
    let (mut ub_min, mut ub_max) = (f32::MAX as f64, 0f64);
    let (mut lb_min, mut lb_max) = (f32::MAX as f64, 0f64);
    let mut rel = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if it.lower < 0.0 {
            return Err(format!(
                "lower bound {i} is {} but negative lower bounds are not allowed",
                it.lower
            ));
        }
        if it.target < it.lower {
            return Err(format!(
                "target {i} is {}, which is below its lower bound of {}",
                it.target, it.lower
            ));
        }
        if it.upper < it.lower {
            return Err(format!(
                "upper bound {i} is {} but should not be less than the lower bound {}",
                it.upper, it.lower
            ));
        }
        let target = it.target.max(MIN_TARGET);
        low_sum += it.lower;
        high_sum += it.upper;
        target_sum += target;
        let (rl, ru) = (it.lower / target, it.upper / target);
        ub_min = ub_min.min(ru);
        ub_max = ub_max.max(ru);
        lb_min = lb_min.min(rl);
        lb_max = lb_max.max(rl);
        rel.push((target, rl, ru));
    }
    if lb_max > 1.0 {
        return Err(format!(
            "lbRange.max-1={}, which is impossible because lbRange.max can not be greater than 1",
            lb_max - 1.0
        ));
    }
    if low_sum - required > EPSILON {
        return Err(format!(
            "lower bounds sum to {low_sum}, which is higher than the required sum of {required}"
        ));
    }
    if required - high_sum > EPSILON {
        return Err(format!(
            "upper bounds sum to {high_sum}, which is lower than the required sum of {required}"
        ));
    }
    if required == 0.0 {
        return Ok((vec![0.0; items.len()], 0.0));
    }
    if low_sum - required > -EPSILON {
        return Ok((items.iter().map(|i| i.lower).collect(), lb_min));
    }
    if required - high_sum > -EPSILON {
        return Ok((items.iter().map(|i| i.upper).collect(), ub_max));
    }
    let mut fair = required / target_sum;
    if lb_max <= fair && fair <= ub_min {
        return Ok((rel.iter().map(|r| r.0 * fair).collect(), fair));
    }
    // Walk the relative bounds in ascending order, tracking which classes are "sensitive" (their
    // allocation moves with the fair proportion), until the allocations reach the sum.
    let mut bounds: Vec<(f64, usize, bool)> = Vec::with_capacity(rel.len() * 2);
    for (i, r) in rel.iter().enumerate() {
        bounds.push((r.1, i, true));
        bounds.push((r.2, i, false));
    }
    bounds.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut sum_so_far = low_sum;
    fair = lb_min;
    let (mut sensitive_target_sum, mut delta_target_sum) = (0.0, 0.0);
    let (mut sensitive, mut delta_sensitive) = (0i64, 0i64);
    let mut next = 0;
    while sum_so_far < required {
        let mut next_bound;
        loop {
            sensitive_target_sum += delta_target_sum;
            sensitive += delta_sensitive;
            if next >= bounds.len() {
                return Err("impossible: ran out of bounds to consider in bound-constrained problem".into());
            }
            let (b, i, lower) = bounds[next];
            next_bound = b;
            if lower {
                delta_sensitive = 1;
                delta_target_sum = rel[i].0;
            } else {
                delta_sensitive = -1;
                delta_target_sum = -rel[i].0;
            }
            next += 1;
            if next_bound > fair {
                break;
            }
        }
        if sensitive == 0 {
            fair = next_bound;
            continue;
        }
        let next_prop = fair + (required - sum_so_far) / sensitive_target_sum;
        if next_prop <= next_bound {
            fair = next_prop;
            break;
        }
        sum_so_far += (next_bound - fair) * sensitive_target_sum;
        fair = next_bound;
    }
    let out = items
        .iter()
        .zip(&rel)
        .map(|(it, r)| it.lower.max(it.upper.min(fair * r.0)))
        .collect();
    Ok((out, fair))
}

/// Time-weighted statistics of a level's seat demand (seats in use plus seats waiting).
#[derive(Debug)]
pub struct Integrator {
    last: Instant,
    x: f64,
    elapsed: f64,
    integral_x: f64,
    integral_xx: f64,
    max: f64,
}

/// What an [`Integrator`] saw since its last reset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Results {
    pub duration: f64,
    pub average: f64,
    pub deviation: f64,
    pub max: f64,
}

impl Integrator {
    pub fn new(now: Instant) -> Integrator {
        Integrator {
            last: now,
            x: 0.0,
            elapsed: 0.0,
            integral_x: 0.0,
            integral_xx: 0.0,
            max: 0.0,
        }
    }

    fn update(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.elapsed += dt;
        self.integral_x += self.x * dt;
        self.integral_xx += self.x * self.x * dt;
    }

    pub fn set(&mut self, x: f64, now: Instant) {
        self.update(now);
        self.x = x;
        self.max = self.max.max(x);
    }

    /// The statistics since the last reset; starts a new period.
    pub fn reset(&mut self, now: Instant) -> Results {
        self.update(now);
        let (average, deviation) = if self.elapsed <= 0.0 {
            (f64::NAN, f64::NAN)
        } else {
            let avg = self.integral_x / self.elapsed;
            let var = self.integral_xx / self.elapsed - avg * avg;
            (avg, if var >= 0.0 { var.sqrt() } else { f64::NAN })
        };
        let out = Results {
            duration: self.elapsed,
            average,
            deviation,
            max: self.max,
        };
        self.elapsed = 0.0;
        self.integral_x = 0.0;
        self.integral_xx = 0.0;
        self.max = self.x;
        out
    }
}

/// Upstream's `seatDemandStats`, smoothed across periods.
#[derive(Debug, Default, Clone, Copy)]
pub struct DemandStats {
    pub avg: f64,
    pub std_dev: f64,
    pub high_watermark: usize,
    pub smoothed: f64,
}

/// `seatDemandSmoothingCoefficient`.
const SMOOTHING: f64 = 0.977;

impl DemandStats {
    pub fn update(&mut self, obs: Results) {
        self.high_watermark = obs.max.round() as usize;
        if obs.duration <= 0.0 {
            return;
        }
        let dev = if obs.deviation.is_nan() { 0.0 } else { obs.deviation };
        self.avg = obs.average;
        self.std_dev = dev;
        let envelope = obs.average + dev;
        self.smoothed = envelope.max(SMOOTHING * self.smoothed + (1.0 - SMOOTHING) * envelope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn item(target: f64, lower: f64, upper: f64) -> Item {
        Item { target, lower, upper }
    }

    #[test]
    fn proportional_when_bounds_do_not_bind() {
        let (a, fair) = compute(100, &[item(10.0, 0.0, 100.0), item(30.0, 0.0, 100.0)]).unwrap();
        assert!((a[0] - 25.0).abs() < 1e-9 && (a[1] - 75.0).abs() < 1e-9, "{a:?}");
        assert!((fair - 2.5).abs() < 1e-9);
    }

    #[test]
    fn bounds_bind_and_the_rest_is_shared() {
        // The second level wants a lot but may not exceed 40; the first takes the remainder.
        let (a, _) = compute(100, &[item(1.0, 1.0, 100.0), item(1000.0, 5.0, 40.0)]).unwrap();
        assert!((a[1] - 40.0).abs() < 1e-9, "{a:?}");
        assert!((a[0] - 60.0).abs() < 1e-9, "{a:?}");
        // Lower bounds summing to the requirement: everyone gets exactly its lower bound.
        let (a, _) = compute(30, &[item(50.0, 10.0, 60.0), item(50.0, 20.0, 60.0)]).unwrap();
        assert_eq!(a, vec![10.0, 20.0]);
        assert!(compute(10, &[item(50.0, 10.0, 60.0), item(50.0, 20.0, 60.0)]).is_err());
    }

    #[test]
    fn integrator_averages_over_time() {
        let t0 = Instant::now();
        let mut i = Integrator::new(t0);
        i.set(10.0, t0);
        i.set(0.0, t0 + Duration::from_secs(1));
        let r = i.reset(t0 + Duration::from_secs(2));
        assert!(
            (r.average - 5.0).abs() < 1e-9 && (r.deviation - 5.0).abs() < 1e-9,
            "{r:?}"
        );
        assert_eq!(r.max, 10.0);
        let mut s = DemandStats::default();
        s.update(r);
        assert_eq!(s.high_watermark, 10);
        assert!((s.smoothed - 10.0).abs() < 1e-9);
    }
}
