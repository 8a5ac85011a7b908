//! Noise, only from OpenDP (`contrib` + `use-openssl`): discrete Gaussian
//! under ρ-zCDP, discrete Laplace under pure ε-DP, and OpenDP's private
//! quantile. Nothing here samples randomness itself, and nothing is seeded.
//!
//! Every mechanism is built with its sensitivity, and the privacy loss it
//! reports comes from OpenDP's own privacy map, not from a formula here.

use std::collections::HashMap;

use opendp::combinators::make_zCDP_to_approxDP;
use opendp::core::Measurement;
use opendp::domains::{AtomDomain, MapDomain, VectorDomain};
use opendp::measurements::{make_gaussian, make_gaussian_threshold, make_laplace, make_laplace_threshold, make_private_quantile};
use opendp::measures::{Approximate, MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{AbsoluteDistance, L0PInfDistance, L1Distance, L2Distance, SymmetricDistance};

use crate::error::{Error, Result};

fn dp(e: opendp::error::Error) -> Error {
    Error::Privacy(format!("OpenDP: {e}"))
}

/// A vector of integer cells.
type Cells = VectorDomain<AtomDomain<i64>>;

/// OpenDP's discrete Gaussian on a vector of cells, at `scale`.
fn gaussian(scale: f64) -> Result<Measurement<Cells, L2Distance<f64>, ZeroConcentratedDivergence, Vec<i64>>> {
    make_gaussian(VectorDomain::new(AtomDomain::<i64>::default()), L2Distance::<f64>::default(), scale, None).map_err(dp)
}

/// OpenDP's discrete Laplace on a vector of cells, at `scale`.
fn laplace(scale: f64) -> Result<Measurement<Cells, L1Distance<f64>, MaxDivergence, Vec<i64>>> {
    make_laplace(VectorDomain::new(AtomDomain::<i64>::default()), L1Distance::<f64>::default(), scale, None).map_err(dp)
}

/// OpenDP's private median of a vector of values over `candidates`.
fn median(candidates: &[i64], scale: f64) -> Result<Measurement<Cells, SymmetricDistance, ZeroConcentratedDivergence, i64>> {
    make_private_quantile(VectorDomain::new(AtomDomain::<i64>::default()), SymmetricDistance, ZeroConcentratedDivergence, candidates.to_vec(), 0.5, scale)
        .map_err(dp)
}

/// Which noise the release uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Discrete Gaussian, ρ-zCDP (default).
    Gaussian,
    /// Discrete Laplace, pure ε-DP (accounted as ρ = ε²/2).
    Laplace,
}

/// L2 sensitivity of a vector of cells when one person touches at most
/// `cells` cells, each by at most `max_abs`.
pub fn l2_sensitivity(cells: usize, max_abs: i64) -> f64 {
    (cells as f64).sqrt() * max_abs.unsigned_abs() as f64
}

/// L1 sensitivity under the same bounds.
pub fn l1_sensitivity(cells: usize, max_abs: i64) -> f64 {
    cells as f64 * max_abs.unsigned_abs() as f64
}

/// The sensitivity `mechanism` is calibrated with: L2 for the Gaussian, L1
/// for the Laplace.
pub fn sensitivity(mechanism: Mechanism, cells: usize, max_abs: i64) -> f64 {
    match mechanism {
        Mechanism::Gaussian => l2_sensitivity(cells, max_abs),
        Mechanism::Laplace => l1_sensitivity(cells, max_abs),
    }
}

/// A vector mechanism with its calibration.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Calibrated {
    pub mechanism: Mechanism,
    /// Noise scale (standard deviation for Gaussian, b for Laplace).
    pub scale: f64,
    /// Sensitivity used (L2 for Gaussian, L1 for Laplace).
    pub sensitivity: f64,
    /// Privacy loss as OpenDP's privacy map reports it, in ρ (zCDP).
    pub rho: f64,
}

/// Smallest scale (within 0.1%) whose privacy loss is at most `rho`.
pub fn calibrate(mechanism: Mechanism, sensitivity: f64, rho: f64) -> Result<Calibrated> {
    if rho <= 0.0 || sensitivity <= 0.0 {
        return Err(Error::Privacy(format!("cannot calibrate noise for rho {rho} and sensitivity {sensitivity}")));
    }
    let loss = |scale: f64| -> Result<f64> {
        match mechanism {
            Mechanism::Gaussian => gaussian(scale)?.map(&sensitivity).map_err(dp),
            Mechanism::Laplace => {
                let eps = laplace(scale)?.map(&sensitivity).map_err(dp)?;
                Ok(eps * eps / 2.0)
            }
        }
    };
    // Start from the analytic scale (the same for both: the Gaussian's ρ is
    // (Δ/σ)²/2, the Laplace's ε = Δ/b is accounted as ρ = ε²/2), then step
    // up until OpenDP agrees.
    let (scale, used) = step_up(sensitivity / (2.0 * rho).sqrt(), rho, "noise", loss)?;
    Ok(Calibrated { mechanism, scale, sensitivity, rho: used })
}

/// From `start`, the scale raised by 0.1% at a time until OpenDP's privacy
/// map (`loss`) puts it at most at `rho`: that scale and its loss. `what`
/// names the mechanism should it not get there.
fn step_up(start: f64, rho: f64, what: &str, loss: impl Fn(f64) -> Result<f64>) -> Result<(f64, f64)> {
    let mut scale = start;
    let mut used = loss(scale)?;
    let mut guard = 0;
    while used > rho {
        scale *= 1.001;
        used = loss(scale)?;
        guard += 1;
        if guard > 10_000 {
            return Err(Error::Privacy(format!("{what} calibration did not converge")));
        }
    }
    Ok((scale, used))
}

/// Add noise to a vector of integer cells.
pub fn release(values: &[i64], c: &Calibrated) -> Result<Vec<i64>> {
    let v = values.to_vec();
    match c.mechanism {
        Mechanism::Gaussian => gaussian(c.scale)?.invoke(&v).map_err(dp),
        Mechanism::Laplace => laplace(c.scale)?.invoke(&v).map_err(dp),
    }
}

/// Draws of the mechanism's noise (the release of zeros), for simulated
/// intervals.
pub fn noise_draws(c: &Calibrated, n: usize) -> Result<Vec<i64>> {
    release(&vec![0; n], c)
}

/// Half-width of the 95% interval of the noise: the smallest integer m with
/// P(|noise| <= m) >= 95%. Analytic, from OpenDP's accuracy functions, which
/// give the bound with a strict inequality (P(|noise| < a) >= 95%), so m = a - 1.
pub fn moe95(c: &Calibrated) -> Result<f64> {
    let a = match c.mechanism {
        Mechanism::Gaussian => opendp::accuracy::discrete_gaussian_scale_to_accuracy(c.scale, 0.05).map_err(dp)?,
        Mechanism::Laplace => opendp::accuracy::discrete_laplacian_scale_to_accuracy(c.scale, 0.05).map_err(dp)?,
    };
    Ok((a - 1.0).max(0.0))
}

/// A calibrated private median (OpenDP's exponential-mechanism quantile on
/// an integer grid of candidates), for one cell.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuantileMech {
    pub scale: f64,
    pub rho: f64,
    #[serde(skip)]
    pub candidates: Vec<i64>,
}

/// Calibrate the quantile mechanism so one cell costs at most `rho` when a
/// person adds or removes one value.
pub fn calibrate_quantile(candidates: Vec<i64>, rho: f64) -> Result<QuantileMech> {
    let loss = |scale: f64| -> Result<f64> { median(&candidates, scale)?.map(&1u32).map_err(dp) };
    // rho scales with 1/scale^2: start from one evaluation.
    let probe = loss(1.0)?;
    let (scale, used) = step_up((probe / rho).sqrt().max(1e-9), rho, "quantile", loss)?;
    Ok(QuantileMech { scale, rho: used, candidates })
}

impl QuantileMech {
    pub fn release(&self, values: &[i64]) -> Result<i64> {
        median(&self.candidates, self.scale)?.invoke(&values.to_vec()).map_err(dp)
    }
}

/// OpenDP's threshold mechanism, for cells whose keys are not on a public
/// list: every count gets noise, and only the keys whose noisy count clears
/// `threshold` are released. Which keys appear is itself private; the small
/// chance that a key held by very few people clears the threshold is the δ
/// of the release, and it is accounted.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ThresholdMech {
    pub mechanism: Mechanism,
    /// Noise scale (as for [`Calibrated`]).
    pub scale: f64,
    /// Noisy counts below this are not released.
    pub threshold: i64,
    /// Cells one person may change.
    pub max_cells: usize,
    /// Privacy loss from OpenDP's map, in ρ (zCDP).
    pub rho: f64,
    /// δ from OpenDP's map.
    pub delta: f64,
}

type Counts = MapDomain<AtomDomain<String>, AtomDomain<i64>>;

/// OpenDP's threshold measurement, of either kind.
enum Threshold {
    Gaussian(Measurement<Counts, L0PInfDistance<2, AbsoluteDistance<f64>>, Approximate<ZeroConcentratedDivergence>, HashMap<String, i64>>),
    Laplace(Measurement<Counts, L0PInfDistance<1, AbsoluteDistance<f64>>, Approximate<MaxDivergence>, HashMap<String, i64>>),
}

fn threshold_measurement(mechanism: Mechanism, scale: f64, threshold: i64) -> Result<Threshold> {
    let domain = MapDomain::new(AtomDomain::<String>::default(), AtomDomain::<i64>::default());
    Ok(match mechanism {
        Mechanism::Gaussian => Threshold::Gaussian(
            make_gaussian_threshold(domain, L0PInfDistance::<2, _>(AbsoluteDistance::<f64>::default()), scale, threshold, None).map_err(dp)?,
        ),
        Mechanism::Laplace => Threshold::Laplace(
            make_laplace_threshold(domain, L0PInfDistance::<1, _>(AbsoluteDistance::<f64>::default()), scale, threshold, None).map_err(dp)?,
        ),
    })
}

/// Loss (ρ, δ) of the threshold mechanism when one person changes up to
/// `cells` keys by at most 1 each, from OpenDP's privacy map.
fn threshold_loss(mechanism: Mechanism, scale: f64, threshold: i64, cells: usize) -> Result<(f64, f64)> {
    let l0 = u32::try_from(cells).map_err(|_| Error::Privacy(format!("too many cells per person: {cells}")))?;
    match threshold_measurement(mechanism, scale, threshold)? {
        Threshold::Gaussian(m) => m.map(&(l0, (cells as f64).sqrt(), 1.0)).map_err(dp),
        Threshold::Laplace(m) => {
            let (eps, delta) = m.map(&(l0, cells as f64, 1.0)).map_err(dp)?;
            Ok((eps * eps / 2.0, delta))
        }
    }
}

/// Calibrate the threshold mechanism: the smallest scale whose ρ is at most
/// `rho`, then the smallest threshold (at least `min_threshold`) whose δ is
/// at most `delta`.
pub fn calibrate_threshold(mechanism: Mechanism, cells: usize, rho: f64, delta: f64, min_threshold: i64) -> Result<ThresholdMech> {
    // Written so that a NaN delta fails too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if rho <= 0.0 || !(delta > 0.0) {
        return Err(Error::Privacy(format!("cannot calibrate a threshold for rho {rho} and delta {delta}")));
    }
    let scale = calibrate(mechanism, sensitivity(mechanism, cells, 1), rho)?.scale;
    let min_threshold = min_threshold.max(2);
    let fits = |t: i64| -> Result<Option<(f64, f64)>> {
        let (r, d) = threshold_loss(mechanism, scale, t, cells)?;
        Ok((r <= rho * (1.0 + 1e-9) && d <= delta).then_some((r, d)))
    };
    // Double, then bisect, on the threshold.
    let mut hi = min_threshold;
    while fits(hi)?.is_none() {
        hi = hi.checked_mul(2).filter(|h| *h < 1 << 40).ok_or_else(|| Error::Privacy("threshold calibration did not converge".into()))?;
    }
    let mut lo = min_threshold - 1;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)?.is_some() { hi = mid } else { lo = mid }
    }
    let (rho_used, delta_used) = fits(hi)?.expect("fits");
    Ok(ThresholdMech { mechanism, scale, threshold: hi, max_cells: cells, rho: rho_used, delta: delta_used })
}

impl ThresholdMech {
    /// Noisy counts of the keys that clear the threshold.
    pub fn release(&self, counts: HashMap<String, i64>) -> Result<HashMap<String, i64>> {
        match threshold_measurement(self.mechanism, self.scale, self.threshold)? {
            Threshold::Gaussian(m) => m.invoke(&counts).map_err(dp),
            Threshold::Laplace(m) => m.invoke(&counts).map_err(dp),
        }
    }

    /// The same noise as a plain release, for margins of error.
    pub fn calibrated(&self) -> Calibrated {
        Calibrated { mechanism: self.mechanism, scale: self.scale, sensitivity: sensitivity(self.mechanism, self.max_cells, 1), rho: self.rho }
    }
}

/// ε at `delta` for a total zCDP loss `rho`, by OpenDP's conversion.
pub fn epsilon(rho: f64, delta: f64) -> Result<f64> {
    if rho <= 0.0 {
        return Ok(0.0);
    }
    // A scalar Gaussian whose map at sensitivity 1 is `rho`; its privacy
    // curve is the curve of any rho-zCDP release.
    let scale = 1.0 / (2.0 * rho).sqrt();
    let m = make_gaussian::<_, _, ZeroConcentratedDivergence>(AtomDomain::<i64>::default(), AbsoluteDistance::<f64>::default(), scale, None)
        .map_err(dp)?;
    let approx = make_zCDP_to_approxDP(m).map_err(dp)?;
    let profile = approx.map(&1.0).map_err(dp)?;
    profile.epsilon(delta).map_err(dp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitivity_follows_from_bounds() {
        assert_eq!(l2_sensitivity(4, 1), 2.0);
        assert_eq!(l2_sensitivity(9, 100), 300.0);
        assert_eq!(l1_sensitivity(4, 5), 20.0);
    }

    #[test]
    fn calibration_meets_the_budget_and_scale_is_analytic() {
        let c = calibrate(Mechanism::Gaussian, 2.0, 0.5).unwrap();
        assert!(c.rho <= 0.5);
        // sigma = delta / sqrt(2 rho) = 2
        assert!((c.scale - 2.0).abs() < 0.05, "{}", c.scale);
        let l = calibrate(Mechanism::Laplace, 1.0, 0.5).unwrap();
        assert!(l.rho <= 0.5);
    }

    /// Mean and variance of OpenDP's noise over many draws, against the
    /// stated scale. (Draws are not seeded: OpenDP's sampler is
    /// cryptographically secure; the tolerances are 6 standard errors.)
    fn moments(c: &Calibrated, n: usize) -> (f64, f64) {
        let d = noise_draws(c, n).unwrap();
        let mean = d.iter().map(|x| *x as f64).sum::<f64>() / n as f64;
        let var = d.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var)
    }

    #[test]
    fn gaussian_noise_has_the_stated_variance_and_no_bias() {
        let c = calibrate(Mechanism::Gaussian, l2_sensitivity(4, 1), 0.08).unwrap();
        assert!((c.scale - 5.0).abs() < 0.05, "sigma = 2 / sqrt(0.16) = 5, got {}", c.scale);
        let n = 40_000;
        let (mean, var) = moments(&c, n);
        let sigma2 = c.scale * c.scale;
        assert!(mean.abs() < 6.0 * (sigma2 / n as f64).sqrt(), "mean {mean}");
        // Var of the sample variance of a normal is 2 sigma^4 / (n - 1).
        let se = (2.0 * sigma2 * sigma2 / (n - 1) as f64).sqrt();
        assert!((var - sigma2).abs() < 6.0 * se, "variance {var} vs {sigma2}");
    }

    #[test]
    fn laplace_noise_has_the_stated_variance_and_no_bias() {
        let c = calibrate(Mechanism::Laplace, l1_sensitivity(2, 1), 0.02).unwrap();
        let n = 40_000;
        let (mean, var) = moments(&c, n);
        // Discrete Laplace with scale b: variance 2 e^{-1/b} / (1 - e^{-1/b})^2.
        let q = (-1.0 / c.scale).exp();
        let stated = 2.0 * q / (1.0 - q).powi(2);
        assert!(mean.abs() < 6.0 * (stated / n as f64).sqrt(), "mean {mean}");
        // The fourth moment of a Laplace is 6 times the squared variance.
        let se = ((6.0 - 1.0) * stated * stated / n as f64).sqrt();
        assert!((var - stated).abs() < 6.0 * se, "variance {var} vs {stated}");
    }

    #[test]
    fn margins_of_error_cover_95_percent_of_the_noise() {
        let c = calibrate(Mechanism::Gaussian, 2.0, 0.1).unwrap();
        let moe = moe95(&c).unwrap();
        let d = noise_draws(&c, 20_000).unwrap();
        let inside = d.iter().filter(|x| (**x as f64).abs() <= moe).count() as f64 / d.len() as f64;
        // Integer noise: the interval covers at least 95%, and not much more.
        assert!((0.945..=0.98).contains(&inside), "coverage {inside} for moe {moe}");
        let narrower = d.iter().filter(|x| (**x as f64).abs() <= moe - 1.0).count() as f64 / d.len() as f64;
        assert!(narrower < 0.955, "the interval is the smallest that covers 95%: {narrower}");
    }

    #[test]
    fn the_private_median_lands_near_the_median() {
        let candidates: Vec<i64> = (0..=200).map(|k| k * 100).collect();
        let q = calibrate_quantile(candidates, 0.5).unwrap();
        let values: Vec<i64> = (0..2001).map(|i| i * 10).collect(); // median 10,000
        let mut errs: Vec<i64> = (0..200).map(|_| (q.release(&values).unwrap() - 10_000).abs()).collect();
        errs.sort();
        assert!(errs[190] <= 600, "95th percentile error {}", errs[190]);
    }

    #[test]
    fn epsilon_grows_with_rho() {
        let a = epsilon(0.1, 1e-9).unwrap();
        let b = epsilon(1.0, 1e-9).unwrap();
        assert!(a > 0.0 && b > a);
        // Classic bound: eps <= rho + 2 sqrt(rho ln(1/delta)).
        assert!(b <= 1.0 + 2.0 * (1.0f64 * (1e9f64).ln()).sqrt() + 1e-9);
    }

    #[test]
    fn the_threshold_mechanism_meets_its_budget_and_hides_rare_keys() {
        let t = calibrate_threshold(Mechanism::Gaussian, 4, 0.05, 1e-10, 11).unwrap();
        assert!(t.rho <= 0.05 * (1.0 + 1e-9) && t.delta <= 1e-10, "{t:?}");
        assert!(t.threshold >= 11);
        // One step lower breaks the δ target (the threshold is the smallest).
        if t.threshold > 11 {
            let (_, d) = threshold_loss(Mechanism::Gaussian, t.scale, t.threshold - 1, 4).unwrap();
            assert!(d > 1e-10, "{d}");
        }
        let counts: HashMap<String, i64> =
            [("rare".to_string(), 1), ("common".to_string(), t.threshold * 3)].into_iter().collect();
        let mut common = 0;
        for _ in 0..200 {
            let out = t.release(counts.clone()).unwrap();
            assert!(!out.contains_key("rare"), "a key held by one person was released");
            common += out.contains_key("common") as usize;
        }
        assert!(common >= 195, "a large key must nearly always clear the threshold: {common}/200");
        let l = calibrate_threshold(Mechanism::Laplace, 4, 0.05, 1e-10, 11).unwrap();
        assert!(l.rho <= 0.05 * (1.0 + 1e-9) && l.delta <= 1e-10, "{l:?}");
    }
}
