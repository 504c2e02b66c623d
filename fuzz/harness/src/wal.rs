//! `wal_records`: bytes as write-ahead log segments, read back and recovered.
//!
//! Input layout:
//!
//! ```text
//! 0      u8   flags: bit 0  fix the checksums (and salt) of the chain of records from
//!                           the start of each segment's body, so the fuzzer reaches the
//!                           LSN, durable-LSN and kind checks behind them
//!                    bit 1  also fix every 8-aligned record whose salt already matches
//!                           (the survivors past a bad record: torn tail or corruption?)
//!                    bit 2  two segments: the body is split in two
//!                    bit 3  pad each segment with zeros to 4096 bytes, as preallocated
//!                    bit 4  pad segment 2 to 8192 bytes instead: twice segment 1's
//!                           size, as a log whose segments grow makes them
//! 1..9   u64  first LSN of segment 1 (its header field and its file name)
//! 9..17  u64  first LSN of segment 2
//! 17..19 u16  where the body splits (modulo its length, rounded down to 8)
//! 19..        the body: records, after the 64-byte segment header the harness writes
//! ```
//!
//! A shorter input is padded with zeros. The segment header is computed here (the
//! encoder is private to the storage crate); its layout is documented in
//! `storage/src/wal/segment.rs`, and the record layout in `storage/src/wal/record.rs`.
//!
//! Checked: [`WalReader`] returns records with increasing LSNs or a typed error, never
//! panics; recovery ([`Wal::open`]) reads the same records; after
//! [`Recovery::finish`](fletchdb_storage::wal::Recovery::finish) an append succeeds
//! (unless the log is at its LSN limit, where it is refused), and after a clean close
//! (which trims the last segment after its marker and deletes spares) a fresh reader
//! returns exactly the recovered records followed by the new one. The log is recovered
//! with segments growing from 4 KiB to [`LOG_SEGMENT_MAX`], so segments of other sizes
//! than the input's may follow them.

use std::sync::Arc;

use fletchdb_storage::io::{MemDir, StorageDir};
use fletchdb_storage::wal::{Durability, Wal, WalOptions, WalReader, RESERVED_KINDS};
use fletchdb_storage::StorageError;

/// Bytes of a segment header.
const SEGMENT_HEADER: usize = 64;
/// Bytes of a record header.
const RECORD_HEADER: usize = 32;
/// The salts of the two segments' generations.
const SALTS: [u32; 2] = [0x5eed_0001, 0x5eed_0002];
/// Bytes of the input before the body.
const PREFIX: usize = 19;
/// The WAL's smallest segment size, and the size segments are padded to (bit 3).
const SEGMENT_SIZE: u64 = 4096;
/// The largest segment of the log the harness recovers and appends to; its first
/// segment is the smallest size.
const LOG_SEGMENT_MAX: u64 = 16 << 10;
/// LSNs stay below this (`MAX_LSN` in `storage/src/wal/record.rs`): a log is full there.
const MAX_LSN: u64 = 1 << 62;

/// One record as read: LSN, kind, payload.
type Rec = (u64, u8, Vec<u8>);

/// The body of the `wal_records` fuzz target; see the module documentation.
pub fn wal_records(data: &[u8]) {
    let dir = build(data);
    let first = read_all(&dir);
    if let Ok(records) = &first {
        assert!(
            records.windows(2).all(|w| w[0].0 < w[1].0),
            "LSNs not increasing"
        );
        assert!(
            records.iter().all(|r| r.1 < RESERVED_KINDS),
            "a reserved kind came back"
        );
    }
    recover_append_reread(&dir, first);
}

/// The segment files the input describes, in a fresh in-memory directory.
fn build(data: &[u8]) -> MemDir {
    let mut input = data.to_vec();
    if input.len() < PREFIX {
        input.resize(PREFIX, 0);
    }
    let flags = input[0];
    let lsn_at = |at: usize| u64::from_le_bytes(input[at..at + 8].try_into().expect("8 bytes"));
    let firsts = [lsn_at(1), lsn_at(9)];
    let body = &input[PREFIX..];
    let split = if flags & 4 != 0 && !body.is_empty() {
        (u16::from_le_bytes([input[17], input[18]]) as usize % body.len()) / 8 * 8
    } else {
        body.len()
    };
    let parts: &[&[u8]] = if flags & 4 != 0 {
        &[&body[..split], &body[split..]]
    } else {
        &[body]
    };
    let dir = MemDir::new();
    for (i, part) in parts.iter().enumerate() {
        let name = format!("{:020}.wal", firsts[i]);
        if dir.list().expect("list").contains(&name) {
            continue; // both segments claim the same first LSN: keep the first
        }
        let mut seg = vec![0u8; SEGMENT_HEADER];
        seg.extend_from_slice(part);
        let pad = if flags & 16 != 0 && i == 1 {
            2 * SEGMENT_SIZE
        } else if flags & 8 != 0 {
            SEGMENT_SIZE
        } else {
            0
        };
        if (seg.len() as u64) < pad {
            seg.resize(pad as usize, 0);
        }
        if flags & 1 != 0 {
            fix_chain(&mut seg, SALTS[i]);
        }
        if flags & 2 != 0 {
            fix_matching(&mut seg, SALTS[i]);
        }
        let header = segment_header(SALTS[i], firsts[i], seg.len() as u64);
        seg[..SEGMENT_HEADER].copy_from_slice(&header);
        let file = dir.create(&name).expect("create segment");
        file.write_all_at(&seg, 0).expect("write segment");
    }
    dir
}

/// A segment header as `storage/src/wal/segment.rs` lays it out.
fn segment_header(salt: u32, first_lsn: u64, size: u64) -> [u8; SEGMENT_HEADER] {
    let mut b = [0u8; SEGMENT_HEADER];
    b[..8].copy_from_slice(b"FLETCHWL");
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&salt.to_le_bytes());
    b[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    b[24..32].copy_from_slice(&size.to_le_bytes());
    let crc = crc32c::crc32c(&b[..32]);
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    b
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The payload length of the record at `pos`, if its header fits and its payload does.
fn record_len(seg: &[u8], pos: usize) -> Option<usize> {
    if pos + RECORD_HEADER > seg.len() {
        return None;
    }
    let len = u32_at(seg, pos) as usize;
    (len > 0 && len <= seg.len() - pos - RECORD_HEADER).then_some(len)
}

/// Sets the salt and recomputes the checksum of the record at `pos` (payload `len`).
fn seal(seg: &mut [u8], pos: usize, len: usize, salt: u32) {
    seg[pos + 24..pos + 28].copy_from_slice(&salt.to_le_bytes());
    let rec = &seg[pos..pos + RECORD_HEADER + len];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&rec[..4]), &rec[8..]);
    seg[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Seals the chain of records that starts after the header, as far as lengths allow.
fn fix_chain(seg: &mut [u8], salt: u32) {
    let mut pos = SEGMENT_HEADER;
    while let Some(len) = record_len(seg, pos) {
        seal(seg, pos, len, salt);
        pos += (RECORD_HEADER + len).next_multiple_of(8);
    }
}

/// Seals every 8-aligned record whose salt is already this segment's.
fn fix_matching(seg: &mut [u8], salt: u32) {
    let mut pos = SEGMENT_HEADER;
    while pos + RECORD_HEADER <= seg.len() {
        if u32_at(seg, pos + 24) == salt {
            if let Some(len) = record_len(seg, pos) {
                seal(seg, pos, len, salt);
            }
        }
        pos += 8;
    }
}

/// Every record a fresh [`WalReader`] returns, or its error (which must be typed).
fn read_all(dir: &MemDir) -> Result<Vec<Rec>, StorageError> {
    let mut reader = WalReader::open(Arc::new(dir.clone())).inspect_err(check_error)?;
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().inspect_err(check_error)? {
        out.push((r.lsn, r.kind, r.payload.to_vec()));
    }
    Ok(out)
}

/// Reading damaged segments may fail only with corruption or an unsupported version.
fn check_error(e: &StorageError) {
    assert!(
        matches!(
            e,
            StorageError::Corruption { .. } | StorageError::UnsupportedVersion { .. }
        ),
        "unexpected error reading a log in memory: {e:?}"
    );
}

/// Recovers the log, appends one record, closes, and reads everything back.
fn recover_append_reread(dir: &MemDir, first: Result<Vec<Rec>, StorageError>) {
    let options = WalOptions {
        durability: Durability::Sync,
        segment_size: LOG_SEGMENT_MAX,
        ..WalOptions::default()
    };
    let shared: Arc<dyn StorageDir> = Arc::new(dir.clone());
    let mut recovery = match Wal::open(shared.clone(), options) {
        Ok(r) => r,
        Err(e) => {
            check_error(&e);
            assert!(
                first.is_err(),
                "the reader opened what recovery refused: {e}"
            );
            return;
        }
    };
    let mut recovered = Vec::new();
    let read = loop {
        match recovery.next_record() {
            Ok(Some(r)) => recovered.push((r.lsn, r.kind, r.payload.to_vec())),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    match (&first, read) {
        (Ok(records), Ok(())) => assert_eq!(&recovered, records, "recovery read otherwise"),
        (Err(_), Err(e)) => {
            check_error(&e);
            return;
        }
        (Ok(_), Err(e)) => panic!("recovery failed where the reader did not: {e}"),
        (Err(e), Ok(())) => panic!("the reader failed where recovery did not: {e}"),
    }
    let wal = recovery
        .finish()
        .expect("finishing a recovery that read cleanly");
    let payload = b"appended after recovery";
    let next = wal.next_lsn();
    let lsn = match wal.append(7, &[payload]) {
        Ok(lsn) => lsn,
        // A log whose header starts it just below the LSN limit is full: appends are
        // refused, and nothing changes.
        Err(StorageError::InvalidArgument(_)) if next + 1 >= MAX_LSN => {
            wal.close().expect("close");
            drop(wal);
            let again = read_all(dir).expect("reading a full log again");
            assert_eq!(again, recovered, "a refused append changed the log");
            return;
        }
        Err(e) => panic!("append after a clean recovery: {e}"),
    };
    assert!(
        recovered.last().is_none_or(|r| r.0 < lsn),
        "appended LSN {lsn} does not follow the recovered records"
    );
    wal.close().expect("close");
    drop(wal);
    recovered.push((lsn, 7, payload.to_vec()));
    let again = read_all(dir).expect("reading the log after recovery and an append");
    assert_eq!(again, recovered, "the recovered log did not read back");
}

/// Rewrites the salt and checksums of the record chain of a whole segment (header
/// included) for the salt this harness gives segment `index`: seeds come from the real
/// log, whose salts are random.
pub(crate) fn reseal(seg: &mut [u8], index: usize) {
    if let Some(&salt) = SALTS.get(index) {
        fix_chain(seg, salt);
    }
}
