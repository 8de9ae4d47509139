//! A whole store copied SQLite → PostgreSQL → SQLite: every table's rows and content hash come
//! through unchanged, the copy keeps working afterwards, and a non-empty destination is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use candlekeep_core::{
    Asset, Candle, Instrument, Listing, Market, MarketPoint, Provenance, SourceId, Timeframe, Venue,
};
use candlekeep_store::catalog::TABLES;
use candlekeep_store::migrate::{CopyMarker, Unfinished};
use candlekeep_store::migrate::{copy_store, table_digest};
use candlekeep_store::{BlockingStore, JobRecord, JobStatus, PageWrite, PgStore, Replace, SqliteStore};
use candlekeep_testkit::{SimMarket, pg};

const H: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 / H * H;

fn prov(source: SourceId) -> Provenance {
    Provenance {
        source,
        fetched_at_ms: T0 + 17,
    }
}

/// A store with a row in every table.
fn populated(store: &mut dyn BlockingStore) {
    let btc = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).unwrap();
    let mut bars: Vec<Candle> = SimMarket::new(3)
        .with_outages(false)
        .candles(Market::UsdM, "BTCUSDT", Timeframe::H1, T0, T0 + 300 * H)
        .iter()
        .map(|c| c.to_candle())
        .collect();
    store
        .save_indicators(&[candlekeep_store::IndicatorValue {
            instrument_id: id,
            timeframe: Timeframe::H1,
            name: "rsi_14".into(),
            bar_ms: T0,
            value: 1.0 / 3.0,
            computed_at_ms: T0 + H,
        }])
        .unwrap();
    bars[50].volume = None; // a venue without volume
    bars[60].high = bars[60].low - 1.0; // quarantined
    bars[70].close *= 1.5; // flagged as a jump
    bars[70].high = bars[70].high.max(bars[70].close);
    let primary = PageWrite {
        instrument_id: id,
        timeframe: Timeframe::H1,
        provenance: prov(SourceId::BinanceUsdmRest),
        candles: &bars[..200],
        covered: Some((T0, T0 + 200 * H)),
        replace: Replace::Outranked(&[SourceId::OkxRest]),
    };
    let fallback = PageWrite {
        provenance: prov(SourceId::OkxRest),
        candles: &bars[190..],
        covered: Some((T0 + 190 * H, T0 + 300 * H)),
        replace: Replace::Outranked(&[]),
        ..primary
    };
    store.write_pages(&[primary, fallback]).unwrap();
    store
        .write_notes(
            id,
            Timeframe::H1,
            SourceId::OkxRest,
            &[(T0 + 400 * H, T0 + 410 * H, "no-trades")],
        )
        .unwrap();
    let point = MarketPoint {
        at_ms: T0 + 123,
        price: 42_000.5,
        market_cap: Some(8.1e11),
        volume_24h: None,
    };
    store.write_points(id, prov(SourceId::CoinGecko), &[point]).unwrap();
    store
        .save_assets(
            &[Asset {
                symbol: "BTC".into(),
                coingecko_id: "bitcoin".into(),
                name: "Bitcoin".into(),
                market_cap_rank: Some(1),
            }],
            T0,
        )
        .unwrap();
    let listing = Listing {
        venue: Venue::Binance,
        market: Market::UsdM,
        ticker: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        listed_at_ms: Some(T0 - 10 * H),
    };
    store
        .refresh_listings(Venue::Binance, Market::UsdM, &[listing], T0)
        .unwrap();
    store.cache_put("coins/list", &[0, 159, 146, 150, 255], T0).unwrap();
    store.refresh_gaps(T0 + 500 * H).unwrap();
    store.refresh_quality(T0, T0 + 500 * H).unwrap();
    let job = store.job_started("backfill", "--from 2023-11-14").unwrap();
    store
        .job_finished(
            job,
            &JobRecord {
                status: JobStatus::Ok,
                rows_written: 299,
                sources: vec!["binance-usdm-rest=200".into()],
                error: None,
            },
        )
        .unwrap();
}

fn digests(store: &mut dyn BlockingStore) -> Vec<(u64, String)> {
    TABLES.iter().map(|t| table_digest(store, t).unwrap()).collect()
}

#[test]
fn a_store_goes_to_postgres_and_back_unchanged() {
    if !pg::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut original = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    populated(&mut original);
    let want = digests(&mut original);
    for (table, (rows, _)) in TABLES.iter().zip(&want) {
        assert!(*rows > 0, "the fixture leaves {} empty", table.name);
    }

    let schema = pg::TestSchema::create().unwrap();
    let mut server = PgStore::connect(&schema.url).unwrap();
    let report = copy_store(&mut original, &mut server, "a.db", Unfinished::Refuse, &mut |_, _| {}).unwrap();
    assert_eq!(report.len(), TABLES.len());
    assert_eq!(digests(&mut server), want);
    assert_eq!(server.content_hash().unwrap(), original.content_hash().unwrap());
    assert_eq!(server.series_status().unwrap(), original.series_status().unwrap());
    assert_eq!(server.gaps(None, 0).unwrap(), original.gaps(None, 0).unwrap());

    let mut back = SqliteStore::open(&dir.path().join("b.db")).unwrap();
    copy_store(&mut server, &mut back, "server", Unfinished::Refuse, &mut |_, _| {}).unwrap();
    assert_eq!(digests(&mut back), want);

    // A second copy into a store that holds rows is refused and writes nothing.
    let err = copy_store(&mut original, &mut server, "a.db", Unfinished::Refuse, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("empty database"), "{err}");
    assert_eq!(digests(&mut server), want);

    // The copy keeps working: new ids continue after the copied ones.
    let eth = server
        .instrument_id(&Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap())
        .unwrap();
    assert!(eth > 1, "{eth}");
    let job = server.job_started("status", "").unwrap();
    assert!(job > 1, "{job}");
}

/// A copy killed midway leaves the destination marked as unfinished: it is never taken for a
/// complete store, a rerun says why it refuses and how to restart, and `--restart` (only for a
/// marked copy) empties it and copies again, verified.
#[test]
fn an_interrupted_copy_is_marked_refused_with_a_reason_and_restartable() {
    let dir = tempfile::tempdir().unwrap();
    let mut original = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    populated(&mut original);
    let want = digests(&mut original);
    let mut dest = SqliteStore::open(&dir.path().join("b.db")).unwrap();
    // What a copy killed after its first tables leaves: the marker and some of the rows.
    let marker = CopyMarker {
        source: "sqlite:a.db".into(),
        started_at_ms: T0,
    };
    dest.set_copy_marker(Some(&marker)).unwrap();
    for table in &TABLES[..3] {
        let mut rows = Vec::new();
        original
            .read_table(table, &mut |row| {
                rows.push(row);
                Ok(())
            })
            .unwrap();
        dest.append_rows(table, &rows).unwrap();
    }
    assert_eq!(dest.copy_marker().unwrap(), Some(marker));

    let err = copy_store(
        &mut original,
        &mut dest,
        "sqlite:a.db",
        Unfinished::Refuse,
        &mut |_, _| {},
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("unfinished copy of sqlite:a.db") && msg.contains("--restart"),
        "{msg}"
    );
    // An unfinished copy is no source either.
    let mut other = SqliteStore::open(&dir.path().join("c.db")).unwrap();
    let err = copy_store(&mut dest, &mut other, "sqlite:b.db", Unfinished::Refuse, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("unfinished copy"), "{err}");

    copy_store(
        &mut original,
        &mut dest,
        "sqlite:a.db",
        Unfinished::Restart,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(digests(&mut dest), want);
    assert_eq!(dest.copy_marker().unwrap(), None, "a verified copy is no longer marked");

    // --restart never empties a store that is not a marked copy.
    let err = copy_store(
        &mut original,
        &mut dest,
        "sqlite:a.db",
        Unfinished::Restart,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("not an unfinished copy"), "{err}");
    assert_eq!(digests(&mut dest), want);
}
