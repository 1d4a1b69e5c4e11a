//! Rounding half away from zero, and the units the contract writes (km, hours, min/km).
//!
//! Ratios of whole numbers (percentages, days per week) are rounded in integer arithmetic, so
//! that `0.25` of something is exactly `0.3` and never `0.2` because of binary fractions.
//! Values derived from metres (which are fractional) are scaled with a single division before
//! rounding, which keeps decimal inputs such as 5,050 m exact (`5.1` km, not `5.0`).

/// `numerator ÷ denominator` rounded to a whole number, half away from zero; 0 when the
/// denominator is not positive.
pub(crate) fn round_ratio(numerator: i128, denominator: i128) -> i128 {
    if denominator <= 0 {
        return 0;
    }
    let magnitude = (2 * numerator.abs() + denominator) / (2 * denominator);
    if numerator < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// `numerator ÷ denominator` with one decimal, half away from zero.
pub(crate) fn ratio_one_decimal(numerator: u64, denominator: u64) -> f64 {
    round_ratio(10 * i128::from(numerator), i128::from(denominator)) as f64 / 10.0
}

/// A value rounded to whole units, half away from zero; unchanged when it is not finite or
/// too large to have a fraction.
fn round_scaled(scaled: f64, scale: f64) -> f64 {
    let rounded = scaled.round() / scale;
    if rounded.is_finite() {
        rounded
    } else {
        scaled / scale
    }
}

/// Metres as kilometres with one decimal.
pub(crate) fn km_one_decimal(meters: f64) -> f64 {
    round_scaled(meters / 100.0, 10.0)
}

/// Metres as kilometres with two decimals.
pub(crate) fn km_two_decimals(meters: f64) -> f64 {
    round_scaled(meters / 10.0, 100.0)
}

/// Seconds as hours with one decimal.
pub(crate) fn hours_one_decimal(seconds: i128) -> f64 {
    round_ratio(seconds, 360) as f64 / 10.0
}

/// Average pace in minutes per kilometre with two decimals; `None` without a distance.
pub(crate) fn pace_min_per_km(seconds: i128, meters: f64) -> Option<f64> {
    // minutes / km = (seconds / 60) / (meters / 1000); in hundredths: seconds * 5000 / (3 * m).
    let hundredths = seconds as f64 * 5000.0 / (3.0 * meters);
    (meters > 0.0 && hundredths.is_finite()).then(|| round_scaled(hundredths, 100.0))
}

/// Average pace in seconds per kilometre with two decimals; `None` without a distance.
pub(crate) fn pace_s_per_km(seconds: i128, meters: f64) -> Option<f64> {
    let hundredths = seconds as f64 * 100_000.0 / meters;
    (meters > 0.0 && hundredths.is_finite()).then(|| round_scaled(hundredths, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(round_ratio(5, 2), 3);
        assert_eq!(round_ratio(-5, 2), -3);
        assert_eq!(round_ratio(7, 2), 4);
        assert_eq!(round_ratio(4, 3), 1);
        assert_eq!(round_ratio(1, 0), 0);
    }

    #[test]
    fn one_decimal_of_a_ratio_is_exact() {
        // 1 ÷ 8 × 10 = 1.25 → 1.3; 1 ÷ 40 = 0.025 → 0.0; 3 ÷ 40 = 0.075 → 0.1.
        assert_eq!(ratio_one_decimal(1, 8), 0.1);
        assert_eq!(ratio_one_decimal(10, 8), 1.3);
        assert_eq!(ratio_one_decimal(3, 40), 0.1);
        assert_eq!(ratio_one_decimal(1, 40), 0.0);
        assert_eq!(ratio_one_decimal(200, 3), 66.7);
    }

    #[test]
    fn units_round_decimal_inputs_exactly() {
        assert_eq!(km_one_decimal(5050.0), 5.1);
        assert_eq!(km_one_decimal(5049.9), 5.0);
        assert_eq!(km_two_decimals(10_005.0), 10.01);
        assert_eq!(km_two_decimals(1234.4), 1.23);
        assert_eq!(hours_one_decimal(5400), 1.5);
        assert_eq!(hours_one_decimal(180), 0.1); // 0.05 h
        assert_eq!(hours_one_decimal(179), 0.0);
    }

    #[test]
    fn pace_needs_a_distance() {
        assert_eq!(pace_min_per_km(1500, 5000.0), Some(5.0));
        assert_eq!(pace_min_per_km(1503, 5000.0), Some(5.01));
        // 1 km in 5:03 = 5.05 min/km exactly.
        assert_eq!(pace_min_per_km(303, 1000.0), Some(5.05));
        assert_eq!(pace_min_per_km(1500, 0.0), None);
        assert_eq!(pace_s_per_km(1500, 5000.0), Some(300.0));
        assert_eq!(pace_s_per_km(1000, 3000.0), Some(333.33));
        assert_eq!(pace_s_per_km(1000, 0.0), None);
    }
}
