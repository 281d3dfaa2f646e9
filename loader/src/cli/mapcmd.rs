//! `rbpf-load map lookup|update|delete|getnext|pin|show`, as bpftool's map verbs: a map by
//! id, pin or name; keys and values as numbers, bytes, or JSON through the map's BTF; a
//! PROG_ARRAY slot filled with a program by id, pin or name.

use super::objref;
use super::{CliError, CliResult};
use crate::btf::Btf;
use crate::obj::map_type;
use crate::sys::{self, MapInfo, ObjKind};
use crate::valuefmt;
use serde_json::Value;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// One open map with what is needed to read and write its keys and values.
pub struct MapCtx {
    pub fd: OwnedFd,
    pub info: MapInfo,
    pub btf: Option<Btf>,
    /// CPUs a per-CPU value has (1 otherwise), and the bytes each takes (8-aligned).
    pub ncpu: usize,
    pub stride: usize,
}

impl MapCtx {
    /// A key from the command line's words, sized and typed by the map.
    fn parse_key(&self, words: &[String]) -> CliResult<Vec<u8>> {
        parse_data(
            self,
            words,
            self.info.key_size as usize,
            self.info.btf_key_type_id,
            "key",
        )
    }

    /// One value (one CPU's, for a per-CPU map) from the command line's words.
    fn parse_value(&self, words: &[String]) -> CliResult<Vec<u8>> {
        parse_data(
            self,
            words,
            self.info.value_size as usize,
            self.info.btf_value_type_id,
            "value",
        )
    }

    pub fn open(spec: &str) -> CliResult<MapCtx> {
        let fd = objref::open_map(spec)?;
        let info = sys::map_info(fd.as_fd())?;
        let btf = (info.btf_id != 0)
            .then(|| sys::fd_by_id(ObjKind::Btf, info.btf_id).ok())
            .flatten()
            .and_then(|b| sys::btf_data(b.as_fd()).ok())
            .and_then(|d| Btf::parse(&d).ok());
        let ncpu = if map_type::is_percpu(info.map_type) {
            sys::possible_cpus().map(|c| c.len()).unwrap_or(1)
        } else {
            1
        };
        let stride = if ncpu > 1 {
            (info.value_size as usize).div_ceil(8) * 8
        } else {
            info.value_size as usize
        };
        Ok(MapCtx {
            fd,
            info,
            btf,
            ncpu,
            stride,
        })
    }

    /// `map 'counts' (id 7)`, for messages.
    pub fn label(&self) -> String {
        format!("map '{}' (id {})", self.info.name, self.info.id)
    }

    fn show(&self, bytes: &[u8], ty: u32) -> Value {
        match (&self.btf, ty) {
            (Some(b), t) if t != 0 => valuefmt::to_json(b, t, bytes),
            _ => valuefmt::hex_or_int(bytes),
        }
    }

    pub fn key_json(&self, key: &[u8]) -> Value {
        self.show(key, self.info.btf_key_type_id)
    }

    /// A value as read (per CPU for per-CPU maps).
    pub fn value_json(&self, v: &[u8]) -> Value {
        let size = self.info.value_size as usize;
        if self.ncpu <= 1 {
            return self.show(v, self.info.btf_value_type_id);
        }
        Value::Array(
            v.chunks(self.stride)
                .enumerate()
                .map(|(cpu, c)| serde_json::json!({"cpu": cpu, "value": self.show(&c[..size.min(c.len())], self.info.btf_value_type_id)}))
                .collect(),
        )
    }

    /// A buffer a lookup fills.
    pub fn value_buf(&self) -> Vec<u8> {
        vec![0u8; self.stride * self.ncpu]
    }

    /// The value at `key`, if there is one.
    pub fn lookup(&self, key: &[u8]) -> CliResult<Option<Vec<u8>>> {
        let mut v = self.value_buf();
        let found = sys::map_lookup(self.fd.as_fd(), key, &mut v)?;
        Ok(found.then_some(v))
    }
}

/// Parse a key or value as the user wrote it, into exactly `size` bytes: one number, one
/// JSON text (through BTF type `ty`), `hex` and hex bytes, or bytes one per word.
pub fn parse_data(
    ctx: &MapCtx,
    words: &[String],
    size: usize,
    ty: u32,
    what: &str,
) -> CliResult<Vec<u8>> {
    let bad = |why: String| {
        CliError::new(format!("{what} {}: {why}", words.join(" "))).hint(format!(
            "{} takes {size} bytes: a number, JSON (through the map's BTF), `hex 01 02 ...`, or one number per byte",
            ctx.label()
        ))
    };
    let bytes = match words {
        [] => return Err(bad("nothing given".into())),
        [w] if w.starts_with(['{', '[', '"']) => json_data(ctx, w, ty).map_err(bad)?,
        [w] => number_data(w, size).map_err(bad)?,
        [h, rest @ ..] if h == "hex" => hex_data(rest).map_err(bad)?,
        many => many
            .iter()
            .map(|w| match crate::valueparse::parse_int(w) {
                Some(n) if (0..=255).contains(&n) => Ok(n as u8),
                _ => Err(bad(format!("'{w}' is not a byte"))),
            })
            .collect::<CliResult<Vec<u8>>>()?,
    };
    if bytes.len() != size {
        return Err(bad(format!("{} bytes given", bytes.len())));
    }
    Ok(bytes)
}

fn json_data(ctx: &MapCtx, text: &str, ty: u32) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let btf = ctx
        .btf
        .as_ref()
        .filter(|_| ty != 0)
        .ok_or("the map has no BTF type for it: give a number or bytes")?;
    crate::valueparse::from_json(btf, ty, &v).map_err(|e| e.to_string())
}

fn number_data(w: &str, size: usize) -> Result<Vec<u8>, String> {
    let n = crate::valueparse::parse_int(w).ok_or(format!("'{w}' is not a number"))?;
    if size > 16 {
        return Err(format!("a number is at most 16 bytes, this takes {size}"));
    }
    let bits = size as u32 * 8;
    let fits = bits >= 127 || (n >= -(1i128 << (bits - 1)) && n < (1i128 << bits));
    if !fits {
        return Err(format!("{n} does not fit in {size} bytes"));
    }
    Ok(n.to_le_bytes()[..size].to_vec())
}

fn hex_data(words: &[String]) -> Result<Vec<u8>, String> {
    let digits: String = words.concat();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("'{}' is not hex", &digits[i..i + 2]))
        })
        .collect()
}

/// `key K... [value V...] [any|exist|noexist]`, as bpftool's words.
pub struct Words {
    pub key: Vec<String>,
    pub value: Vec<String>,
    pub flags: u64,
}

pub fn split_words(args: &[String]) -> CliResult<Words> {
    let mut w = Words {
        key: Vec::new(),
        value: Vec::new(),
        flags: 0,
    };
    let mut into: Option<&mut Vec<String>> = None;
    for a in args {
        match a.as_str() {
            "key" => into = Some(&mut w.key),
            "value" => into = Some(&mut w.value),
            // BPF_ANY, BPF_NOEXIST, BPF_EXIST.
            "any" => w.flags = 0,
            "noexist" => w.flags = 1,
            "exist" => w.flags = 2,
            _ => match into.as_deref_mut() {
                Some(v) => v.push(a.clone()),
                None => {
                    return Err(CliError::new(format!("'{a}': expected `key ...` first"))
                        .hint("rbpf-load map update MAP key 1 value 42"))
                }
            },
        }
    }
    Ok(w)
}

/// The value bytes for a PROG_ARRAY slot: the fd of a program named by id, pin or name.
fn prog_value(words: &[String]) -> CliResult<(OwnedFd, Vec<u8>)> {
    let spec =
        match words {
            [w] => w.clone(),
            [k, v] if k == "id" => format!("id:{v}"),
            [k, v] if k == "pinned" => format!("pinned:{v}"),
            [k, v] if k == "name" => format!("name:{v}"),
            _ => return Err(CliError::new(format!(
                "value {}: expected a program",
                words.join(" ")
            ))
            .hint("a PROG_ARRAY slot holds a program: value id:N, value PIN or value name:NAME")),
        };
    let fd = objref::open(ObjKind::Prog, &spec)?;
    let v = (fd.as_raw_fd() as u32).to_ne_bytes().to_vec();
    Ok((fd, v))
}

/// A program's `id 42 'name'`, for the slot just filled.
fn prog_label(fd: &OwnedFd) -> String {
    match sys::prog_info(fd.as_fd()) {
        Ok(i) => format!("prog id {} '{}'", i.id, i.name),
        Err(_) => "a program".into(),
    }
}

pub fn lookup(spec: &str, args: &[String], json: bool) -> CliResult {
    let ctx = MapCtx::open(spec)?;
    let w = split_words(args)?;
    let key = ctx.parse_key(&w.key)?;
    let v = ctx.lookup(&key)?.ok_or_else(|| {
        CliError::new(format!(
            "{}: no entry for key {}",
            ctx.label(),
            ctx.key_json(&key)
        ))
    })?;
    print_entry(&ctx, &key, &v, json);
    Ok(())
}

fn print_entry(ctx: &MapCtx, key: &[u8], v: &[u8], json: bool) {
    let (k, v) = (ctx.key_json(key), ctx.value_json(v));
    if json {
        println!("{}", serde_json::json!({"key": k, "value": v}));
    } else {
        println!("{k} => {v}");
    }
}

pub fn update(spec: &str, args: &[String]) -> CliResult {
    let ctx = MapCtx::open(spec)?;
    let w = split_words(args)?;
    let key = ctx.parse_key(&w.key)?;
    if ctx.info.map_type == map_type::PROG_ARRAY {
        let (prog, value) = prog_value(&w.value)?;
        sys::map_update(ctx.fd.as_fd(), &key, &value, w.flags)
            .map_err(|e| CliError::new(format!("{}: {e}", ctx.label())))?;
        println!(
            "{}: slot {} = {}",
            ctx.label(),
            ctx.key_json(&key),
            prog_label(&prog)
        );
        return Ok(());
    }
    let one = ctx.parse_value(&w.value)?;
    // A per-CPU map takes a value for every CPU: the same one for each.
    let mut value = ctx.value_buf();
    for chunk in value.chunks_mut(ctx.stride.max(1)) {
        chunk[..one.len()].copy_from_slice(&one);
    }
    sys::map_update(ctx.fd.as_fd(), &key, &value, w.flags).map_err(|e| {
        let err = CliError::new(format!("{}: {e}", ctx.label()));
        match e.errno() {
            Some(libc::EEXIST) => err.hint("the key exists and `noexist` was given"),
            Some(libc::ENOENT) => err.hint("the key does not exist and `exist` was given"),
            Some(libc::E2BIG) if map_type::name(ctx.info.map_type).contains("array") => {
                err.hint(format!(
                    "the key is past the array's {} entries",
                    ctx.info.max_entries
                ))
            }
            Some(libc::E2BIG) => err.hint(format!(
                "the map is full ({} entries)",
                ctx.info.max_entries
            )),
            _ => err,
        }
    })?;
    println!(
        "{}: {} => {}",
        ctx.label(),
        ctx.key_json(&key),
        ctx.show(&one, ctx.info.btf_value_type_id)
    );
    Ok(())
}

pub fn delete(spec: &str, args: &[String]) -> CliResult {
    let ctx = MapCtx::open(spec)?;
    let w = split_words(args)?;
    let key = ctx.parse_key(&w.key)?;
    let found = sys::map_delete(ctx.fd.as_fd(), &key).map_err(|e| {
        let err = CliError::new(format!("{}: {e}", ctx.label()));
        if e.errno() == Some(libc::EINVAL) && map_type::name(ctx.info.map_type) == "array" {
            err.hint("an array's elements cannot be deleted: update them to 0")
        } else {
            err
        }
    })?;
    if !found {
        return Err(CliError::new(format!(
            "{}: no entry for key {}",
            ctx.label(),
            ctx.key_json(&key)
        )));
    }
    println!("{}: deleted {}", ctx.label(), ctx.key_json(&key));
    Ok(())
}

pub fn getnext(spec: &str, args: &[String], json: bool) -> CliResult {
    let ctx = MapCtx::open(spec)?;
    let w = split_words(args)?;
    let key = if w.key.is_empty() {
        None
    } else {
        Some(ctx.parse_key(&w.key)?)
    };
    let mut next = vec![0u8; ctx.info.key_size as usize];
    if !sys::map_next_key(ctx.fd.as_fd(), key.as_deref(), &mut next)? {
        return Err(CliError::new(format!(
            "{}: no key after {}",
            ctx.label(),
            key.as_deref()
                .map(|k| ctx.key_json(k).to_string())
                .unwrap_or_else(|| "the start".into())
        )));
    }
    let (k, n) = (key.as_deref().map(|k| ctx.key_json(k)), ctx.key_json(&next));
    if json {
        println!("{}", serde_json::json!({"key": k, "next_key": n}));
    } else {
        println!("next key: {n}");
    }
    Ok(())
}

pub fn pin(spec: &str, path: &std::path::Path) -> CliResult {
    let ctx = MapCtx::open(spec)?;
    super::util::ensure_bpffs()?;
    sys::obj_pin(ctx.fd.as_fd(), path).map_err(|e| {
        CliError::new(format!("{}: {e}", ctx.label()))
            .hint("a pin goes inside bpffs (/sys/fs/bpf), at a path that does not exist yet")
    })?;
    println!("{}: pinned at {}", ctx.label(), path.display());
    Ok(())
}
