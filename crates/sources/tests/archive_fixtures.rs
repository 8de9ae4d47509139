//! The archive reader on fixtures in the exact shapes of `../shared/reference/samples`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use candlekeep_core::Timeframe;
use candlekeep_sources::archive::{ArchiveError, read_archive};
use candlekeep_testkit::archive::write_zip;

// binance_vision_spot_BTCUSDT-1h-2023-10-27.first3rows.csv: spot, no header, milliseconds.
const SPOT_MS: &str = "\
1698364800000,34151.66000000,34171.28000000,33972.39000000,34015.27000000,908.27901000,1698368399999,30937869.62302600,41459,416.48838000,14187002.70550060,0
1698368400000,34015.27000000,34054.48000000,33780.00000000,33848.47000000,1439.61708000,1698371999999,48834748.13159950,63969,583.65349000,19801364.63410430,0
1698372000000,33848.47000000,34142.63000000,33810.00000000,34088.57000000,1054.39547000,1698375599999,35873469.77708990,43767,523.76290000,17815957.44816930,0
";
// binance_vision_cm_BTCUSD_PERP-1h-2023-10-27.first3rows.csv: futures, header row.
const FUTURES_HEADER: &str = "\
open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore
1698364800000,34161.6,34182.5,33977.4,34024.2,409953,1698368399999,1202.97118037,15095,192220,564.12041453,0
1698368400000,34024.2,34060.1,33776.4,33848.4,740960,1698371999999,2183.75671155,23938,368266,1085.17080793,0
1698372000000,33848.5,34150.0,33815.1,34094.2,390376,1698375599999,1147.73267094,13854,231446,680.60405822,0
";
// binance_vision_spot_klines_1h_2025_README_example.microseconds.csv: spot 2025, microseconds.
const SPOT_MICROS: &str = "\
1735689600000000,4.15070000,4.15870000,4.15060000,4.15540000,539.23000000,1735693199999999,2240.39860900,13,401.82000000,1669.98121300,0
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn spot_csv_without_header_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let rows = read_archive(&write(dir.path(), "BTCUSDT-1h-2023-10-27.csv", SPOT_MS), Timeframe::H1).unwrap();
    assert_eq!(rows.candles.len(), 3);
    assert!(!rows.had_header && !rows.micros && !rows.checksum_verified);
    let c = rows.candles[0];
    assert_eq!(
        (c.open_time_ms, c.open, c.close, c.trades),
        (1698364800000, 34151.66, 34015.27, Some(41459))
    );
    assert_eq!(c.quote_volume, Some(30937869.623026));
}

#[test]
fn futures_csv_with_header() {
    let dir = tempfile::tempdir().unwrap();
    let rows = read_archive(
        &write(dir.path(), "BTCUSD_PERP-1h-2023-10-27.csv", FUTURES_HEADER),
        Timeframe::H1,
    )
    .unwrap();
    assert!(rows.had_header);
    assert_eq!(rows.candles.len(), 3);
    assert_eq!(rows.candles[2].open, 33848.5);
}

#[test]
fn microsecond_rows_become_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let rows = read_archive(&write(dir.path(), "BNBUSDT-1h-2025-01.csv", SPOT_MICROS), Timeframe::H1).unwrap();
    assert!(rows.micros);
    assert_eq!(rows.candles[0].open_time_ms, 1735689600000);
    let mixed = format!("{SPOT_MICROS}1735693200000,4.1,4.2,4.0,4.1,1,1735696799999,1,1,0,0,0\n");
    let err = read_archive(&write(dir.path(), "BNBUSDT-1h-2025-02.csv", &mixed), Timeframe::H1).unwrap_err();
    assert!(
        err.to_string().contains("line 2") && err.to_string().contains("mixed"),
        "{err}"
    );
}

#[test]
fn zip_with_checksum_in_binance_format_without_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write_zip(dir.path(), "BTCUSDT-1h-2023-10-27", SPOT_MS.as_bytes()).unwrap();
    let checksum = std::fs::read_to_string(dir.path().join("BTCUSDT-1h-2023-10-27.zip.CHECKSUM")).unwrap();
    assert!(!checksum.ends_with('\n') && checksum.contains("  BTCUSDT-1h-2023-10-27.zip"));
    let rows = read_archive(&zip, Timeframe::H1).unwrap();
    assert!(rows.checksum_verified);
    assert_eq!(rows.candles.len(), 3);

    std::fs::write(
        dir.path().join("BTCUSDT-1h-2023-10-27.zip.CHECKSUM"),
        format!("{}  x.zip", "0".repeat(64)),
    )
    .unwrap();
    assert!(matches!(
        read_archive(&zip, Timeframe::H1),
        Err(ArchiveError::ChecksumMismatch { .. })
    ));
    std::fs::write(dir.path().join("BTCUSDT-1h-2023-10-27.zip.CHECKSUM"), "not a checksum").unwrap();
    assert!(matches!(
        read_archive(&zip, Timeframe::H1),
        Err(ArchiveError::ChecksumFormat { .. })
    ));
}

#[test]
fn bad_files_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let not_zip = write(dir.path(), "X-1h-2024-01.zip", "PK\x03\x04 this is not really a zip");
    assert!(matches!(
        read_archive(&not_zip, Timeframe::H1),
        Err(ArchiveError::Zip { .. })
    ));
    let wrong_tf = read_archive(&write(dir.path(), "a.csv", SPOT_MS), Timeframe::M5).unwrap_err();
    assert!(wrong_tf.to_string().contains("line 1"), "{wrong_tf}");
    let short = read_archive(&write(dir.path(), "b.csv", "1698364800000,1,2\n"), Timeframe::H1).unwrap_err();
    assert!(short.to_string().contains("expected 12 columns"), "{short}");
    let unordered: String = SPOT_MS.lines().rev().map(|l| format!("{l}\n")).collect();
    let err = read_archive(&write(dir.path(), "c.csv", &unordered), Timeframe::H1).unwrap_err();
    assert!(err.to_string().contains("ascending"), "{err}");
    let empty = read_archive(&write(dir.path(), "d.csv", ""), Timeframe::H1).unwrap_err();
    assert!(empty.to_string().contains("no kline rows"), "{empty}");
}

/// The real sample files themselves, when `../shared` is beside the repository.
#[test]
fn shared_reference_samples_when_present() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/samples");
    if !dir.exists() {
        // CI sets the flag when ../shared is there: the real files are then always read.
        assert!(
            std::env::var_os("CANDLEKEEP_TEST_REQUIRE_SAMPLES").is_none(),
            "CANDLEKEEP_TEST_REQUIRE_SAMPLES is set but {} is missing",
            dir.display()
        );
        eprintln!("../shared/reference/samples not present: skipped");
        return;
    }
    for (name, micros, header) in [
        ("binance_vision_spot_BTCUSDT-1h-2023-10-27.first3rows.csv", false, false),
        (
            "binance_vision_cm_BTCUSD_PERP-1h-2023-10-27.first3rows.csv",
            false,
            true,
        ),
        (
            "binance_vision_spot_klines_1h_2025_README_example.microseconds.csv",
            true,
            false,
        ),
    ] {
        let rows = read_archive(&dir.join(name), Timeframe::H1).unwrap();
        assert_eq!((rows.micros, rows.had_header), (micros, header), "{name}");
    }
}

/// Issue 12 item 19: a `.csv.CHECKSUM` beside a bare `.csv` used to be ignored.
#[test]
fn a_csv_checksum_beside_a_csv_is_verified() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "BTCUSDT-1h-2023-10-27.csv", SPOT_MS);
    let sum = dir.path().join("BTCUSDT-1h-2023-10-27.csv.CHECKSUM");
    std::fs::write(&sum, format!("{}  BTCUSDT-1h-2023-10-27.csv", "0".repeat(64))).unwrap();
    assert!(matches!(
        read_archive(&csv, Timeframe::H1),
        Err(ArchiveError::ChecksumMismatch { .. })
    ));
    let good = hex::encode(Sha256::digest(SPOT_MS.as_bytes()));
    std::fs::write(&sum, format!("{good}  BTCUSDT-1h-2023-10-27.csv")).unwrap();
    assert!(read_archive(&csv, Timeframe::H1).unwrap().checksum_verified);
}

/// Issue 12 item 19: an upper-case `.ZIP` (and its `.ZIP.CHECKSUM`) is read like a `.zip`.
#[test]
fn an_upper_case_zip_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write_zip(dir.path(), "BTCUSDT-1h-2023-10-27", SPOT_MS.as_bytes()).unwrap();
    let upper = dir.path().join("BTCUSDT-1h-2023-10-27.ZIP");
    std::fs::rename(&zip, &upper).unwrap();
    let rows = read_archive(&upper, Timeframe::H1).unwrap();
    assert_eq!(rows.candles.len(), 3);
    assert!(candlekeep_sources::archive::describe(&upper).is_some());
}

/// Issue 12 item 19: seconds used to be reported as "not on the 1h grid".
#[test]
fn seconds_timestamps_are_called_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let body =
        "1698364800,34151.66,34171.28,33972.39,34015.27,908.27,1698368399,30937869.62,41459,416.48,14187002.70,0\n";
    let err = read_archive(&write(dir.path(), "s.csv", body), Timeframe::H1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("looks like seconds, expected milliseconds or microseconds"),
        "{err}"
    );
}

/// Issue 12 item 9: times far out of range are refused, never overflowed on.
#[test]
fn out_of_range_times_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for open in [i64::MIN, -3_600_000, i64::MAX, 9_223_372_036_854_775_000] {
        let body = format!("{open},1,1,1,1,1,{},1,1,0,0,0\n", open.wrapping_add(3_599_999));
        let err = read_archive(&write(dir.path(), "x.csv", &body), Timeframe::H1).unwrap_err();
        // A negative first field reads as a header, leaving no rows: refused either way.
        assert!(
            matches!(err, ArchiveError::Row { .. } | ArchiveError::Unknown { .. }),
            "{err}"
        );
    }
}
