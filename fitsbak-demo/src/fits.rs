//! Writing small but real FITS files for the demo library and the tests.
//!
//! A FITS file is a primary header of 80-character ASCII cards in 2880-byte
//! blocks, ended by `END` and padded with spaces, followed by the data array in
//! big-endian order, padded with zeros to a multiple of 2880 bytes.

use std::io::Write;

/// The FITS block size.
pub const BLOCK: usize = 2880;

/// A primary header under construction.
#[derive(Debug, Clone, Default)]
pub struct Header {
    cards: Vec<String>,
}

impl Header {
    /// A header for a 16-bit 2-D image of `width` x `height` pixels.
    pub fn image(width: u32, height: u32) -> Self {
        let mut h = Self::default();
        h.logical("SIMPLE", true, "conforms to FITS standard");
        h.integer("BITPIX", 16, "16-bit signed integers");
        h.integer("NAXIS", 2, "two-dimensional image");
        h.integer("NAXIS1", width.into(), "width in pixels");
        h.integer("NAXIS2", height.into(), "height in pixels");
        h.integer("BZERO", 32768, "unsigned 16-bit data");
        h.integer("BSCALE", 1, "");
        h
    }

    fn card(&mut self, key: &str, value: String, comment: &str) {
        let mut card = format!("{key:<8}= {value:>20}");
        if !comment.is_empty() {
            card.push_str(" / ");
            card.push_str(comment);
        }
        card.truncate(80);
        self.cards.push(format!("{card:<80}"));
    }

    /// `KEY = T` or `F`.
    pub fn logical(&mut self, key: &str, value: bool, comment: &str) {
        self.card(key, if value { "T" } else { "F" }.into(), comment);
    }

    /// An integer card.
    pub fn integer(&mut self, key: &str, value: i64, comment: &str) {
        self.card(key, value.to_string(), comment);
    }

    /// A floating-point card.
    pub fn float(&mut self, key: &str, value: f64, comment: &str) {
        self.card(key, format!("{value:.3}"), comment);
    }

    /// A string card; FITS strings are ASCII, so other characters become `?`.
    pub fn string(&mut self, key: &str, value: &str, comment: &str) {
        let ascii: String = value
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect::<String>()
            .replace('\'', "''");
        let quoted = format!("'{ascii:<8}'");
        let mut card = format!("{key:<8}= {quoted:<20}");
        if !comment.is_empty() {
            card.push_str(" / ");
            card.push_str(comment);
        }
        card.truncate(80);
        self.cards.push(format!("{card:<80}"));
    }

    /// The header's bytes: the cards, `END`, spaces to a whole block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self.cards.iter().flat_map(|c| c.bytes()).collect();
        bytes.extend(format!("{:<80}", "END").bytes());
        let padded = bytes.len().div_ceil(BLOCK) * BLOCK;
        bytes.resize(padded, b' ');
        bytes
    }
}

/// A small deterministic generator (SplitMix64), so demo files are the same on
/// every machine for the same seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Writes a header and a noisy `width` x `height` image to `out`; returns the
/// number of bytes written (a multiple of 2880).
pub fn write_image(
    out: &mut impl Write,
    header: &Header,
    width: u32,
    height: u32,
    rng: &mut Rng,
) -> std::io::Result<u64> {
    let head = header.to_bytes();
    out.write_all(&head)?;
    let pixels = width as usize * height as usize;
    let data_len = pixels * 2;
    let padded = data_len.div_ceil(BLOCK) * BLOCK;
    let mut data = vec![0u8; padded];
    for pair in data[..data_len].chunks_exact_mut(8) {
        // Four pixels per draw: a sky background with noise, stored with BZERO.
        let bits = rng.next_u64();
        for (k, px) in pair.chunks_exact_mut(2).enumerate() {
            let noise = ((bits >> (16 * k)) & 0x3FF) as u16;
            px.copy_from_slice(&(1000u16 + noise).wrapping_sub(32768).to_be_bytes());
        }
    }
    for px in data[data_len - data_len % 8..data_len].chunks_exact_mut(2) {
        px.copy_from_slice(&1000u16.wrapping_sub(32768).to_be_bytes());
    }
    out.write_all(&data)?;
    Ok((head.len() + padded) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_whole_blocks_of_80_character_cards() {
        let mut h = Header::image(10, 4);
        h.string("OBJECT", "Caldwell 49 Rosette - Hα", "target");
        h.float("EXPTIME", 300.0, "seconds");
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), BLOCK);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("SIMPLE  =                    T"));
        assert!(text.contains("OBJECT  = 'Caldwell 49 Rosette - H?'"));
        assert!(text.contains(&format!("{:<80}", "END")));
        for card in text.as_bytes().chunks(80) {
            assert!(card.is_ascii());
        }
    }

    #[test]
    fn images_are_padded_and_deterministic() {
        let h = Header::image(33, 7);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let n = write_image(&mut a, &h, 33, 7, &mut Rng::new(1)).unwrap();
        write_image(&mut b, &h, 33, 7, &mut Rng::new(1)).unwrap();
        assert_eq!(n as usize, a.len());
        assert_eq!(a.len(), 2 * BLOCK);
        assert_eq!(a, b);
        let mut c = Vec::new();
        write_image(&mut c, &h, 33, 7, &mut Rng::new(2)).unwrap();
        assert_ne!(a, c);
    }
}
