//! Human-readable sizes for tables, comments and pages: binary units
//! (KiB, MiB), one decimal, and signed deltas.

/// `512 B`, `12.3 KiB`, `4.0 MiB`, `1.2 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `+12.3 KiB`, `-512 B`, `0 B`.
pub fn delta(bytes: i64) -> String {
    match bytes {
        0 => "0 B".to_string(),
        d if d > 0 => format!("+{}", size(d.unsigned_abs())),
        d => format!("-{}", size(d.unsigned_abs())),
    }
}

/// Relative change of `delta` against `base`, e.g. `+0.4%`, `-12.0%`;
/// `n/a` when the base is zero.
pub fn percent(delta: i64, base: u64) -> String {
    if base == 0 {
        return "n/a".to_string();
    }
    let p = delta as f64 * 100.0 / base as f64;
    if delta == 0 {
        "0.0%".to_string()
    } else if p >= 0.0 {
        format!("+{p:.1}%")
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(12_595), "12.3 KiB");
        assert_eq!(size(8 * 1024 * 1024), "8.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn deltas_are_signed() {
        assert_eq!(delta(0), "0 B");
        assert_eq!(delta(12_595), "+12.3 KiB");
        assert_eq!(delta(-512), "-512 B");
        assert_eq!(delta(i64::MIN), "-8388608.0 TiB");
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0, 100), "0.0%");
        assert_eq!(percent(4, 1000), "+0.4%");
        assert_eq!(percent(-120, 1000), "-12.0%");
        assert_eq!(percent(5, 0), "n/a");
    }
}
