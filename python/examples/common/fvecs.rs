//! The texmex `.fvecs` reader the Python package's Rust examples share.

/// The vectors of a texmex `.fvecs` file, back to back.
pub fn read_fvecs(path: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let d = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
        at += 4;
        let end = at + 4 * d;
        if end > bytes.len() {
            return Err(format!("{path}: truncated record at byte {at}").into());
        }
        out.extend(
            bytes[at..end]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        at = end;
    }
    Ok(out)
}
