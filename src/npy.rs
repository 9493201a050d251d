//! Minimal `.npy` (NumPy format v1/v2) reading and writing for little-endian f32 arrays, which
//! is what `fewstep run` and `fewstep sample` exchange. f64 and f16 files are converted on read.

use std::path::Path;

use crate::error::Error;

/// An array read from or written to `.npy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!(
        "{}: not a readable .npy file: {why}",
        path.display()
    ))
}

/// Reads a C-ordered `<f4`, `<f8` or `<f2` array.
pub fn read(path: &Path) -> Result<Array, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes).map_err(|e| bad(path, e))
}

/// Parses `.npy` bytes.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let header = bytes.get(start..start + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let field = |key: &str| -> Result<&str, String> {
        let i = header
            .find(&format!("'{key}'"))
            .ok_or(format!("header lacks '{key}'"))?;
        Ok(header[i + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start())
    };
    let descr = field("descr")?;
    let width: usize = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else if descr.starts_with("'<f2'") {
        2
    } else {
        return Err(format!(
            "dtype {} is not supported (use float32)",
            descr.split(',').next().unwrap_or("")
        ));
    };
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shp = field("shape")?;
    let open = shp.find('(').ok_or("bad shape")? + 1;
    let shp = &shp[open..open + shp[open..].find(')').ok_or("bad shape")?];
    let shape = shp
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad dimension {s:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // a shape whose size overflows would otherwise wrap to a small, matching length
    let n = crate::buffers::elements(&shape)
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| format!("shape {shape:?} is larger than any file"))?;
    let body = &bytes[start + hlen..];
    if body.len() != n {
        return Err(format!(
            "expected {n} bytes of data for shape {shape:?}, found {}",
            body.len()
        ));
    }
    let data = match width {
        4 => body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        8 => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        _ => body
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    };
    Ok(Array { shape, data })
}

/// Encodes an f32 array as `.npy` v1 bytes.
pub fn encode(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("{},", shape[0]),
        _ => shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// Writes an f32 array; the file is written whole or not at all (temporary file + rename).
pub fn write(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), Error> {
    let io = Error::writing(path);
    let tmp = path.with_extension("npy.tmp");
    std::fs::write(&tmp, encode(shape, data)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        for shape in [vec![3usize], vec![2, 3], vec![], vec![0, 4]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let a = parse(&encode(&shape, &data)).unwrap();
            assert_eq!(a.shape, shape);
            assert_eq!(a.data, data);
        }
        assert!(parse(b"").is_err());
        assert!(parse(b"\x93NUMPY\x01\x00\xff\x00{").is_err());
        let mut trunc = encode(&[4], &[1.0, 2.0, 3.0, 4.0]);
        trunc.pop();
        assert!(parse(&trunc).unwrap_err().contains("bytes of data"));
    }

    /// A shape whose byte size overflows `usize` is an error, not a wrapped size that an empty
    /// body would match (2^62 x 4 floats of 4 bytes is 2^66 bytes, 0 when wrapped).
    #[test]
    fn a_shape_too_large_for_any_file_is_refused() {
        let header =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.bytes());
        let e = parse(&bytes).unwrap_err();
        assert!(e.contains("larger than any file"), "{e}");
    }

    /// Random byte edits, cuts and insertions of valid files (v1 and v2, f4, f8 and f2) are
    /// parsed or refused, never a panic; what parses has as many values as its shape says.
    #[test]
    fn mutated_files_never_panic() {
        let f32_file = encode(&[2, 3], &[0.5, -1.0, 2.0, 3.5, 4.0, -6.0]);
        let mut v2 = f32_file.clone();
        v2[6] = 2;
        let header_len = u16::from_le_bytes([v2[8], v2[9]]);
        v2.splice(8..10, (header_len as u32).to_le_bytes());
        let f8 = String::from_utf8_lossy(&f32_file)
            .replace("<f4", "<f8")
            .into_bytes();
        let f2 = String::from_utf8_lossy(&f32_file)
            .replace("<f4", "<f2")
            .into_bytes();
        let seeds = [f32_file, v2, f8, f2];
        let mut rng = crate::rng::Rng::new(17);
        let mut pick = |n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
        for i in 0..20_000 {
            let mut d = seeds[i % seeds.len()].clone();
            for _ in 0..1 + pick(4) {
                match pick(4) {
                    0 if !d.is_empty() => {
                        let at = pick(d.len());
                        d[at] = pick(256) as u8;
                    }
                    1 => d.truncate(pick(d.len() + 1)),
                    2 => {
                        let at = pick(d.len() + 1);
                        let b = b"(),: '0123456789<f48True"[pick(24)];
                        d.insert(at, b);
                    }
                    _ if !d.is_empty() => {
                        let at = pick(d.len());
                        d.remove(at);
                    }
                    _ => {}
                }
            }
            if let Ok(a) = parse(&d) {
                assert_eq!(a.data.len(), a.shape.iter().product::<usize>(), "{d:?}");
            }
        }
    }

    /// Malformed headers are errors, not panics (a `)` before the `(` once sliced backwards).
    #[test]
    fn malformed_headers_are_errors() {
        for shape in [")3(", "(3", "3)", ")(", "(-1,)", "(3 4)"] {
            let header =
                format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n");
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend((header.len() as u16).to_le_bytes());
            bytes.extend(header.bytes());
            bytes.extend([0u8; 12]);
            assert!(parse(&bytes).is_err(), "{shape}");
        }
    }
}
