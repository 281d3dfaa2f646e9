//! `.BTF.ext`: func_info, line_info and CO-RE relocation records, per ELF section.
//!
//! Layout: a header (`struct btf_ext_header`), then for each kind of information a u32
//! record size followed by blocks of `{ sec_name_off, num_info, records[num_info] }`.
//! Record sizes come from the file: larger than we know is fine (newer writer, extra fields
//! ignored), smaller is an error.

use super::parse::MAGIC;
use super::{Btf, BtfError, Result};

/// `struct bpf_func_info`: where a function starts and its BTF FUNC type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    /// Bytes from the start of the ELF section in the file; the caller converts it to an
    /// instruction index (of the final program) before PROG_LOAD.
    pub insn_off: u32,
    pub type_id: u32,
}

/// `struct bpf_line_info`: source position of an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// As [`FuncInfo::insn_off`].
    pub insn_off: u32,
    pub file_name_off: u32,
    pub line_off: u32,
    /// Line number in the top 22 bits, column in the low 10 (`BPF_LINE_INFO_LINE_NUM`).
    pub line_col: u32,
}

impl LineInfo {
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }

    pub fn col(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

/// `struct bpf_core_relo`: one CO-RE relocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    /// As [`FuncInfo::insn_off`].
    pub insn_off: u32,
    /// The local (this object's) BTF type the access starts from.
    pub type_id: u32,
    /// Offset in the BTF string section of the access string ("0:1:2").
    pub access_str_off: u32,
    /// `enum bpf_core_relo_kind` (see `core::kind_name`).
    pub kind: u32,
}

/// The records of one ELF section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecRecords<T> {
    pub section: String,
    pub records: Vec<T>,
}

/// A parsed `.BTF.ext`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    pub func_info: Vec<SecRecords<FuncInfo>>,
    pub line_info: Vec<SecRecords<LineInfo>>,
    pub core_relos: Vec<SecRecords<CoreRelo>>,
    /// Record sizes as found in the file (0 when the part is absent).
    pub func_info_rec_size: u32,
    pub line_info_rec_size: u32,
    pub core_relo_rec_size: u32,
}

/// Sizes of the records as we know them (the kernel's uapi structs).
pub const FUNC_INFO_SIZE: usize = 8;
pub const LINE_INFO_SIZE: usize = 16;
pub const CORE_RELO_SIZE: usize = 16;

/// `struct btf_ext_header` up to line_info_len; core_relo_off/len follow when hdr_len says.
const HDR_MIN: usize = 24;
const HDR_CORE: usize = 32;

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn trunc(what: &'static str, offset: usize, need: usize, have: usize) -> BtfError {
    BtfError::Truncated {
        what,
        offset,
        need,
        have,
    }
}

impl BtfExt {
    /// Parse `.BTF.ext`; section names are resolved in `btf` (the object's `.BTF`).
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt> {
        let field =
            |off: usize| u32_at(data, off).ok_or(trunc(".BTF.ext header", 0, off + 4, data.len()));
        if data.len() < 8 {
            return Err(trunc(".BTF.ext header", 0, 8, data.len()));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != MAGIC {
            return Err(BtfError::Malformed(format!(
                ".BTF.ext: bad magic {magic:#06x} (expected 0xeb9f)"
            )));
        }
        if data[2] != 1 {
            return Err(BtfError::Malformed(format!(
                ".BTF.ext: unsupported version {}",
                data[2]
            )));
        }
        let hdr_len = field(4)? as usize;
        if hdr_len < HDR_MIN {
            return Err(BtfError::Malformed(format!(
                ".BTF.ext: header length {hdr_len} is shorter than {HDR_MIN}"
            )));
        }
        if hdr_len > data.len() {
            return Err(trunc(".BTF.ext header", 0, hdr_len, data.len()));
        }
        let body = &data[hdr_len..];
        let part = |what: &'static str, off: u32, len: u32| -> Result<&[u8]> {
            let (off, len) = (off as usize, len as usize);
            match off.checked_add(len) {
                Some(end) if end <= body.len() => Ok(&body[off..end]),
                _ => Err(trunc(
                    what,
                    hdr_len + off,
                    len,
                    body.len().saturating_sub(off),
                )),
            }
        };
        let func = part(".BTF.ext func_info", field(8)?, field(12)?)?;
        let line = part(".BTF.ext line_info", field(16)?, field(20)?)?;
        let core = if hdr_len >= HDR_CORE {
            part(".BTF.ext core_relo", field(24)?, field(28)?)?
        } else {
            &[]
        };
        let (func_info_rec_size, func_info) =
            parse_part(func, btf, "func_info", |[insn_off, type_id]| FuncInfo {
                insn_off,
                type_id,
            })?;
        let (line_info_rec_size, line_info) = parse_part(
            line,
            btf,
            "line_info",
            |[insn_off, file_name_off, line_off, line_col]| LineInfo {
                insn_off,
                file_name_off,
                line_off,
                line_col,
            },
        )?;
        let (core_relo_rec_size, core_relos) = parse_part(
            core,
            btf,
            "core_relo",
            |[insn_off, type_id, access_str_off, kind]| CoreRelo {
                insn_off,
                type_id,
                access_str_off,
                kind,
            },
        )?;
        Ok(BtfExt {
            func_info,
            line_info,
            core_relos,
            func_info_rec_size,
            line_info_rec_size,
            core_relo_rec_size,
        })
    }

    /// func_info records of ELF section `section` (empty when it has none).
    pub fn func_info_of(&self, section: &str) -> &[FuncInfo] {
        find(&self.func_info, section)
    }

    /// line_info records of ELF section `section`.
    pub fn line_info_of(&self, section: &str) -> &[LineInfo] {
        find(&self.line_info, section)
    }

    /// CO-RE relocations of ELF section `section`.
    pub fn core_relos_of(&self, section: &str) -> &[CoreRelo] {
        find(&self.core_relos, section)
    }
}

fn find<'a, T>(parts: &'a [SecRecords<T>], section: &str) -> &'a [T] {
    parts
        .iter()
        .find(|p| p.section == section)
        .map(|p| p.records.as_slice())
        .unwrap_or(&[])
}

/// One part: `rec_size`, then `{ sec_name_off, num_info, records }` blocks to the end.
/// `make` gets the first `N` u32 words of each record.
fn parse_part<T, const N: usize>(
    data: &[u8],
    btf: &Btf,
    what: &'static str,
    make: impl Fn([u32; N]) -> T,
) -> Result<(u32, Vec<SecRecords<T>>)> {
    let known = N * 4;
    if data.is_empty() {
        return Ok((0, Vec::new()));
    }
    let err = |msg: String| BtfError::Malformed(format!(".BTF.ext {what}: {msg}"));
    let rec_size = u32_at(data, 0).ok_or_else(|| err("no record size".into()))? as usize;
    if rec_size < known || rec_size & 3 != 0 {
        return Err(err(format!(
            "record size {rec_size} (we need at least {known}, a multiple of 4)"
        )));
    }
    let mut out = Vec::new();
    let mut pos = 4;
    while pos < data.len() {
        let (Some(name_off), Some(count)) = (u32_at(data, pos), u32_at(data, pos + 4)) else {
            return Err(err(format!("truncated section header at byte {pos}")));
        };
        pos += 8;
        let section = btf
            .str_at(name_off)
            .map_err(|_| {
                err(format!(
                    "section name offset {name_off} is not a string of .BTF"
                ))
            })?
            .to_string();
        if count == 0 {
            return Err(err(format!("section '{section}' has no records")));
        }
        let bytes = (count as usize).checked_mul(rec_size);
        let left = data.len() - pos;
        let bytes = match bytes {
            Some(b) if b <= left => b,
            _ => {
                return Err(err(format!(
                "section '{section}': {count} records of {rec_size} bytes, only {left} bytes left"
            )))
            }
        };
        let records = data[pos..pos + bytes]
            .chunks_exact(rec_size)
            .map(|rec| {
                let mut words = [0u32; N];
                for (i, w) in words.iter_mut().enumerate() {
                    *w = u32::from_le_bytes([
                        rec[i * 4],
                        rec[i * 4 + 1],
                        rec[i * 4 + 2],
                        rec[i * 4 + 3],
                    ]);
                }
                make(words)
            })
            .collect();
        pos += bytes;
        out.push(SecRecords { section, records });
    }
    Ok((rec_size as u32, out))
}

/// func_info in the kernel's format for PROG_LOAD (`func_info`, `func_info_rec_size` = 8):
/// `insn_off` must already be an instruction index of the program being loaded.
pub fn func_info_bytes(recs: &[FuncInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(recs.len() * FUNC_INFO_SIZE);
    for r in recs {
        out.extend_from_slice(&r.insn_off.to_le_bytes());
        out.extend_from_slice(&r.type_id.to_le_bytes());
    }
    out
}

/// line_info in the kernel's format for PROG_LOAD (`line_info_rec_size` = 16), `insn_off`
/// already an instruction index.
pub fn line_info_bytes(recs: &[LineInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(recs.len() * LINE_INFO_SIZE);
    for r in recs {
        for w in [r.insn_off, r.file_name_off, r.line_off, r.line_col] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(parts: [&[u32]; 3], hdr_len: u32) -> Vec<u8> {
        let mut body = Vec::new();
        let mut offs = Vec::new();
        for p in parts {
            offs.push((body.len() as u32 / 4 * 4, (p.len() * 4) as u32));
            for w in p {
                body.extend_from_slice(&w.to_le_bytes());
            }
        }
        let mut out = vec![0x9f, 0xeb, 1, 0];
        out.extend_from_slice(&hdr_len.to_le_bytes());
        for (o, l) in &offs[..if hdr_len >= 32 { 3 } else { 2 }] {
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&l.to_le_bytes());
        }
        out.extend_from_slice(&body);
        out
    }

    fn btf() -> Btf {
        Btf::from_parts(
            vec![super::super::Type {
                name_off: 0,
                kind: super::super::Kind::Void,
            }],
            b"\0xdp\0f.c\0x = 1;\0".to_vec(),
        )
    }

    #[test]
    fn parses_all_three_parts_and_bigger_records() {
        let func: &[u32] = &[8, 1, 2, 0, 7, 16, 9];
        // line_info records of 20 bytes: one extra word a newer writer might add.
        let line: &[u32] = &[20, 1, 1, 8, 5, 9, (12 << 10) | 3, 0xdead];
        let core: &[u32] = &[16, 1, 1, 24, 3, 0, 0];
        let e = BtfExt::parse(&ext([func, line, core], 32), &btf()).unwrap();
        assert_eq!(
            e.func_info_of("xdp"),
            [
                FuncInfo {
                    insn_off: 0,
                    type_id: 7
                },
                FuncInfo {
                    insn_off: 16,
                    type_id: 9
                }
            ]
        );
        let l = e.line_info_of("xdp")[0];
        assert_eq!((l.line(), l.col(), l.file_name_off), (12, 3, 5));
        assert_eq!(e.core_relos_of("xdp")[0].kind, 0);
        assert_eq!(e.line_info_rec_size, 20);
        assert_eq!(func_info_bytes(e.func_info_of("xdp")).len(), 16);
        // Without the core_relo header fields there are no CO-RE records.
        let e = BtfExt::parse(&ext([func, line, &[]], 24), &btf()).unwrap();
        assert!(e.core_relos.is_empty());
    }

    #[test]
    fn faults_are_named() {
        let b = btf();
        let small: &[u32] = &[4, 1, 1, 0];
        let e = BtfExt::parse(&ext([small, &[], &[]], 32), &b).unwrap_err();
        assert!(e.to_string().contains("record size 4"), "{e}");
        let many: &[u32] = &[8, 1, 1000, 0, 7];
        let e = BtfExt::parse(&ext([many, &[], &[]], 32), &b).unwrap_err();
        assert!(e.to_string().contains("1000 records"), "{e}");
        let badname: &[u32] = &[8, 999, 1, 0, 7];
        let e = BtfExt::parse(&ext([badname, &[], &[]], 32), &b).unwrap_err();
        assert!(e.to_string().contains("name offset 999"), "{e}");
        let good = ext([&[8, 1, 1, 0, 7], &[], &[]], 32);
        for n in 0..good.len() {
            assert!(BtfExt::parse(&good[..n], &b).is_err(), "prefix {n}");
        }
    }
}
