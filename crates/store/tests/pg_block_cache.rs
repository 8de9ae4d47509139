//! PostgreSQL's packed-block read cache: a long read returns exactly the stored rows, cold or
//! warm, and every kind of write (a revision, a hole filled, a page over the newest bars) shows
//! in the next read; a damaged block is packed again; a session that may not write the cache
//! still reads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_core::{Candle, Instrument, Market, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleRead, CandleWrite, OwnedPage, PgStore};
use candlekeep_testkit::pg;
use support::{H, T0, blocking, prov, sim};

const BLOCK: i64 = 1_024 * H;

async fn write(store: &PgStore, id: i64, source: SourceId, bars: &[Candle]) {
    for page in bars.chunks(5_000) {
        store
            .write_pages(vec![OwnedPage {
                instrument_id: id,
                timeframe: Timeframe::H1,
                provenance: prov(source, 1),
                candles: page.to_vec(),
                covered: None,
                outranks: None,
            }])
            .await
            .unwrap();
    }
}

/// The stored bars of BTCUSDT 1h in `[from, to)`, through the store.
async fn read(store: &PgStore, btc: &Instrument, from: i64, to: i64) -> Vec<Candle> {
    store
        .candles(btc, Timeframe::H1, TimeRange::from((from, to)))
        .await
        .unwrap()
}

fn in_range(truth: &[Candle], from: i64, to: i64) -> Vec<Candle> {
    truth
        .iter()
        .filter(|c| c.open_time_ms >= from && c.open_time_ms < to)
        .cloned()
        .collect()
}

/// (block starts, total packed bytes) of the cache.
async fn blocks(sql: &tokio_postgres::Client) -> (Vec<i64>, i64) {
    let rows = sql
        .query(
            "SELECT block_start, length(bars)::bigint FROM candle_blocks ORDER BY block_start",
            &[],
        )
        .await
        .unwrap();
    (
        rows.iter().map(|r| r.get(0)).collect(),
        rows.iter().map(|r| r.get::<_, i64>(1)).sum(),
    )
}

struct Fixture {
    store: PgStore,
    sql: tokio_postgres::Client,
    btc: Instrument,
    id: i64,
    schema: pg::TestSchema,
}

async fn fixture() -> Option<Fixture> {
    if !blocking(pg::available).await {
        return None;
    }
    let schema = blocking(|| pg::TestSchema::create().unwrap()).await;
    let store = PgStore::connect(&schema.url).await.unwrap();
    let sql = pg::connect(&schema.url).await.unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).await.unwrap();
    Some(Fixture {
        store,
        sql,
        btc,
        id,
        schema,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reads_equal_the_rows_through_every_kind_of_write() {
    let Some(f) = fixture().await else { return };
    // Two years with a hole of three days in the middle of a block.
    let mut truth = sim(2 * 8_760);
    let hole = T0 + 5_000 * H..T0 + 5_072 * H;
    let held_back: Vec<Candle> = in_range(&truth, hole.start, hole.end);
    truth.retain(|c| !hole.contains(&c.open_time_ms));
    write(&f.store, f.id, SourceId::BinanceArchive, &truth).await;
    let end = T0 + 2 * 8_760 * H;

    let ranges = [
        (T0, end),
        (T0 + 17 * H, T0 + 17 * H + 8_760 * H),
        (T0 - 3 * BLOCK, T0 + 3 * BLOCK + 5 * H),
        (T0 + 4_000 * H, T0 + 6_500 * H),
    ];
    for (from, to) in ranges {
        let cold = read(&f.store, &f.btc, from, to).await;
        assert_eq!(cold, in_range(&truth, from, to), "cold read of {from}..{to}");
        let warm = read(&f.store, &f.btc, from, to).await;
        assert_eq!(warm, cold, "warm read of {from}..{to}");
    }
    let (packed, _) = blocks(&f.sql).await;
    assert!(
        packed.len() >= 17,
        "two years are about 17 blocks, {} packed",
        packed.len()
    );

    // A revision inside a packed block shows in the next read.
    let at = T0 + 3_333 * H;
    let k = truth.iter().position(|c| c.open_time_ms == at).unwrap();
    truth[k].close *= 1.01;
    truth[k].high = truth[k].high.max(truth[k].close);
    write(&f.store, f.id, SourceId::BinanceSpotRest, &truth[k..=k]).await;
    assert_eq!(read(&f.store, &f.btc, T0, end).await, truth);

    // So does a hole filled by a fresh page (written straight into the table).
    write(&f.store, f.id, SourceId::BinanceArchive, &held_back).await;
    truth.extend(held_back);
    truth.sort_by_key(|c| c.open_time_ms);
    assert_eq!(read(&f.store, &f.btc, T0, end).await, truth);

    // A damaged block reads as missing and is packed again.
    f.sql
        .execute("UPDATE candle_blocks SET bars = '\\x0102'", &[])
        .await
        .unwrap();
    assert_eq!(read(&f.store, &f.btc, T0, end).await, truth);
    let (packed, bytes) = blocks(&f.sql).await;
    assert!(bytes > 2 * packed.len() as i64, "the damaged blocks were packed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_open_block_is_read_as_rows_and_never_packed() {
    let Some(f) = fixture().await else { return };
    let now = candlekeep_core::time::now_ms();
    let to = Timeframe::H1.floor(now);
    let from = to - 3 * 8_760 * H / 2;
    let bars: Vec<Candle> = candlekeep_testkit::SimMarket::new(3)
        .with_outages(false)
        .candles(Market::Spot, "BTCUSDT", Timeframe::H1, from, to)
        .iter()
        .map(|c| c.to_candle())
        .collect();
    write(&f.store, f.id, SourceId::BinanceArchive, &bars).await;
    let got = read(&f.store, &f.btc, from, now).await;
    assert_eq!(got, bars);
    let (packed, _) = blocks(&f.sql).await;
    assert!(!packed.is_empty());
    assert!(
        packed.iter().all(|start| start + BLOCK <= now),
        "only closed blocks are packed"
    );
    // The next hour arrives: the read shows it without any block being touched.
    let newest = candlekeep_testkit::SimMarket::new(3)
        .with_outages(false)
        .candles(Market::Spot, "BTCUSDT", Timeframe::H1, to - H, to)
        .iter()
        .map(|c| {
            let mut c = c.to_candle();
            c.close = c.open;
            c
        })
        .collect::<Vec<_>>();
    write(&f.store, f.id, SourceId::BinanceSpotRest, &newest).await;
    let again = read(&f.store, &f.btc, from, now).await;
    assert_eq!(again.last(), newest.last());
    let newest_block = (to - H).div_euclid(BLOCK) * BLOCK;
    if newest_block + BLOCK > now {
        assert_eq!(blocks(&f.sql).await.0, packed);
    }
}

/// A login role that may only read the test schema; dropped with its grants when done.
struct ReaderRole {
    name: String,
}

impl ReaderRole {
    fn create(schema: &pg::TestSchema) -> Self {
        let name = format!("{}_reader", schema.name);
        pg::batch(
            &pg::server_url(),
            &format!(
                "CREATE ROLE {name} LOGIN PASSWORD 'reader'; \
                 GRANT USAGE, CREATE ON SCHEMA {s} TO {name}; \
                 GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {name};",
                s = schema.name
            ),
        )
        .unwrap();
        Self { name }
    }

    /// `url` with this role's credentials.
    fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://{}:reader@{host}", self.name)
    }
}

impl Drop for ReaderRole {
    fn drop(&mut self) {
        let _ = pg::batch(
            &pg::server_url(),
            &format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_may_not_write_the_cache_still_reads() {
    let Some(f) = fixture().await else { return };
    let truth = sim(6_000);
    write(&f.store, f.id, SourceId::BinanceArchive, &truth).await;
    let role = ReaderRole::create(&f.schema);
    let reader = PgStore::connect(&role.url(&f.schema.url)).await.unwrap();
    assert_eq!(read(&reader, &f.btc, T0, T0 + 6_000 * H).await, truth);
    assert!(blocks(&f.sql).await.0.is_empty(), "the reader packed nothing");
    drop(reader);
    // The writer's own read packs them.
    assert_eq!(read(&f.store, &f.btc, T0, T0 + 6_000 * H).await, truth);
    assert!(!blocks(&f.sql).await.0.is_empty());
}

/// Another process's revision of history shows in this process's long reads within the time a
/// read found current is trusted (half a second), and at once in the writer's own reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_s_revision_shows_within_half_a_second() {
    let Some(f) = fixture().await else { return };
    let mut truth = sim(4 * 1_024);
    write(&f.store, f.id, SourceId::BinanceArchive, &truth).await;
    let (from, to) = (T0, T0 + 4 * 1_024 * H);
    // Packs, decodes into the cache, then finds the cache current (and trusts it from then on).
    for _ in 0..3 {
        assert_eq!(read(&f.store, &f.btc, from, to).await, truth);
    }

    let other_process = PgStore::connect(&f.schema.url).await.unwrap();
    let k = 1_500;
    truth[k].close = truth[k].low.max(truth[k].close * 0.999);
    write(&other_process, f.id, SourceId::BinanceArchive, &truth[k..=k]).await;
    assert_eq!(
        read(&other_process, &f.btc, from, to).await,
        truth,
        "the writer sees it at once"
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        read(&f.store, &f.btc, from, to).await,
        truth,
        "seen after half a second"
    );
}
