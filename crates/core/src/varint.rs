//! LEB128 varints and zigzag, the integers of postcard's format: for the
//! runtime's stored entries, and for projections that store their states in
//! an encoding of their own ([`Projection::encode_state`](crate::projection::Projection::encode_state)).
//!
//! ```
//! use clientele_core::varint;
//!
//! let mut out = Vec::new();
//! varint::push_u64(&mut out, 300);
//! varint::push_i64(&mut out, -2);
//! assert_eq!(out, [0xac, 0x02, 0x03]);
//! let mut bytes = &out[..];
//! assert_eq!(varint::read_u64(&mut bytes), Some(300));
//! assert_eq!(varint::read_u64(&mut bytes).map(varint::unzigzag), Some(-2));
//! assert!(bytes.is_empty());
//! // An overlong form (300 in three bytes) is refused.
//! assert_eq!(varint::read_u64(&mut &[0xac, 0x82, 0x00][..]), None);
//! ```

/// Appends `value` in LEB128: seven bits a byte, low first, the high bit set
/// on every byte but the last.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` zigzagged ([`zigzag`]), then in LEB128.
#[inline]
pub fn push_i64(out: &mut Vec<u8>, value: i64) {
    push_u64(out, zigzag(value));
}

/// Zigzag: small magnitudes of either sign to small unsigned values
/// (0, −1, 1, −2 … → 0, 1, 2, 3 …).
#[inline]
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Reads a LEB128 `u64` from the front of `bytes` and advances past it. None
/// (with `bytes` partly consumed) when it is cut short, exceeds 64 bits or is
/// not in its shortest form, so that every value has exactly one encoding.
#[inline]
pub fn read_u64(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        if shift == 63 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            // An overlong form ends with a 0 byte.
            return (b != 0 || shift == 0).then_some(value);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn every_value_round_trips_in_one_encoding(value in proptest::prelude::any::<u64>(), signed in proptest::prelude::any::<i64>()) {
            let mut out = Vec::new();
            push_u64(&mut out, value);
            push_i64(&mut out, signed);
            let mut bytes = &out[..];
            proptest::prop_assert_eq!(read_u64(&mut bytes), Some(value));
            proptest::prop_assert_eq!(read_u64(&mut bytes).map(unzigzag), Some(signed));
            proptest::prop_assert!(bytes.is_empty());
            // postcard writes the same bytes.
            proptest::prop_assert_eq!(out, postcard::to_allocvec(&(value, signed)).unwrap());
        }
    }

    #[test]
    fn malformed_varints_are_refused() {
        for bad in [
            &[][..],
            &[0x80],
            &[0x80, 0x00],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00,
            ],
        ] {
            assert_eq!(read_u64(&mut &bad[..]), None, "{bad:?}");
        }
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_u64(&mut &max[..]), Some(u64::MAX));
        assert_eq!(read_u64(&mut &[0x00][..]), Some(0));
    }
}
