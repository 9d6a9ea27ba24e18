//! Sizes as people write them for disks ("512M", "20G", "1.5T"): binary units, as LVM,
//! `truncate` and `fallocate` read them. Converted to bytes here, so the node compares plain
//! integers and no tool has to guess what a unit means.

use super::ModuleError;

/// Bytes of SIZE: a number (decimals allowed) and an optional unit K, M, G, T, P (powers of
/// 1024, either case, an optional trailing "B"/"iB"); no unit means bytes.
pub fn bytes(module: &'static str, field: &'static str, size: &str) -> Result<u64, ModuleError> {
    let bad = || ModuleError::Size {
        module,
        field,
        size: size.to_string(),
    };
    let s = size.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.matches('.').count() > 1 || number.ends_with('.') {
        return Err(bad());
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let mut value = whole.checked_shl(shift).filter(|v| v >> shift == whole);
    if !frac.is_empty() {
        // Fractions only with a unit, and exact to the byte: "1.5G" is 1610612736.
        let digits: u32 = frac.len().try_into().map_err(|_| bad())?;
        let numer: u128 = frac.parse().map_err(|_| bad())?;
        let denom = 10u128.checked_pow(digits).ok_or_else(bad)?;
        let part = (numer << shift) / denom;
        if shift == 0 || !(numer << shift).is_multiple_of(denom) {
            return Err(ModuleError::value(
                module,
                field,
                size,
                "is not a whole number of bytes",
            ));
        }
        value = value.and_then(|v| v.checked_add(u64::try_from(part).ok()?));
    }
    match value {
        Some(0) => Err(ModuleError::value(module, field, size, "is zero")),
        Some(v) if v <= i64::MAX as u64 => Ok(v),
        _ => Err(ModuleError::value(module, field, size, "is too big")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary() {
        assert_eq!(bytes("m", "size", "512M").unwrap(), 512 << 20);
        assert_eq!(bytes("m", "size", "20G").unwrap(), 20 << 30);
        assert_eq!(bytes("m", "size", "20g").unwrap(), 20 << 30);
        assert_eq!(bytes("m", "size", "1.5GiB").unwrap(), 3 << 29);
        assert_eq!(bytes("m", "size", "4096").unwrap(), 4096);
        assert_eq!(bytes("m", "size", "2TB").unwrap(), 2 << 40);
    }

    #[test]
    fn nonsense_is_refused() {
        for s in [
            "",
            "G",
            "12X",
            "1.2.3G",
            "0",
            "1.G",
            "0.3",
            "99999999999P",
            "-1G",
        ] {
            assert!(bytes("m", "size", s).is_err(), "{s}");
        }
        let e = bytes("lvm", "size", "20Q").unwrap_err().to_string();
        assert!(e.starts_with("lvm: size '20Q' is not a size"), "{e}");
    }
}
