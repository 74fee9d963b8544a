//! Store comparison: replays the key pattern of one message's life in tongdao (ingest, decide,
//! claim, deliver: about twenty writes over a dozen trees, in commits of a group of messages,
//! each commit durable before it returns) against sled, fjall and redb, and prints throughput,
//! CPU per message and the size on disk. It answers the engine issue's question of whether the
//! embedded store can reach the targets; it is not built by default
//! (`cargo run --release -p tongdao-load --features store-compare --bin store-compare`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

/// Command-line options.
#[derive(Parser)]
struct Options {
    /// Messages to push through each store.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Messages per durable commit (the host's group commit).
    #[arg(long, default_value_t = 64)]
    group: u64,
    /// Directory for the stores (each store gets a subdirectory, removed afterwards).
    #[arg(long, default_value = "/tmp/tongdao-store-compare")]
    dir: std::path::PathBuf,
    /// Which stores to run (comma-separated: sled, fjall, redb).
    #[arg(long, default_value = "sled,fjall,redb")]
    stores: String,
}

/// The trees one message's life touches, in the host's sled layout.
const TREES: [&str; 12] = [
    "events",
    "conversation_events",
    "dedupe",
    "dedupe_expiry",
    "conversations",
    "inbox",
    "identities",
    "outbox",
    "outbox_due",
    "outbox_keys",
    "conversation_outbox",
    "outbox_in_flight",
];

/// One write or removal in a commit.
enum Op {
    Put(usize, Vec<u8>, Vec<u8>),
    Remove(usize, Vec<u8>),
}

/// The four commits of a group of messages, with value sizes close to the host's postcard
/// records (an event about 600 bytes, a conversation about 200, an outbox item about 400).
fn phases(first: u64, group: u64) -> [Vec<Op>; 4] {
    let (mut ingest, mut decide, mut claim, mut deliver) = (vec![], vec![], vec![], vec![]);
    for n in first..first + group {
        let id = n.to_be_bytes().to_vec();
        let conversation = format!("shop-1\0customer-{}", n % 5_000).into_bytes();
        let dedupe = format!("shop-1\0msg-{n:016}").into_bytes();
        let mut index = conversation.clone();
        index.extend_from_slice(&id);
        ingest.push(Op::Put(2, dedupe.clone(), vec![1; 48]));
        let mut expiry = id.clone();
        expiry.extend_from_slice(&dedupe);
        ingest.push(Op::Put(3, expiry, vec![]));
        ingest.push(Op::Put(0, id.clone(), vec![7; 600]));
        ingest.push(Op::Put(1, index.clone(), vec![]));
        ingest.push(Op::Put(4, conversation.clone(), vec![3; 200]));
        ingest.push(Op::Put(5, id.clone(), vec![]));
        ingest.push(Op::Put(6, conversation.clone(), vec![5; 100]));
        decide.push(Op::Remove(5, id.clone()));
        decide.push(Op::Put(7, id.clone(), vec![9; 400]));
        decide.push(Op::Put(8, id.clone(), vec![]));
        decide.push(Op::Put(9, dedupe.clone(), id.clone()));
        decide.push(Op::Put(10, index.clone(), vec![]));
        claim.push(Op::Remove(8, id.clone()));
        claim.push(Op::Put(11, id.clone(), vec![0; 8]));
        deliver.push(Op::Remove(11, id.clone()));
        deliver.push(Op::Put(7, id.clone(), vec![10; 420]));
        deliver.push(Op::Put(4, conversation, vec![4; 210]));
    }
    [ingest, decide, claim, deliver]
}

/// A store under test: applies one commit durably.
trait Candidate {
    fn commit(&mut self, ops: &[Op]) -> Result<()>;
}

struct Sled {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Candidate for Sled {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        use sled::Transactional;
        let trees: &[sled::Tree] = &self.trees;
        trees
            .transaction(|tx| {
                for op in ops {
                    match op {
                        Op::Put(tree, key, value) => {
                            tx[*tree].insert(key.as_slice(), value.as_slice())?;
                        }
                        Op::Remove(tree, key) => {
                            tx[*tree].remove(key.as_slice())?;
                        }
                    }
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|err| anyhow::anyhow!("sled transaction: {err:?}"))?;
        self.db.flush().context("sled flush")?;
        Ok(())
    }
}

struct Fjall {
    keyspace: fjall::Keyspace,
    partitions: Vec<fjall::PartitionHandle>,
}

impl Candidate for Fjall {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        let mut batch = self.keyspace.batch();
        for op in ops {
            match op {
                Op::Put(tree, key, value) => {
                    batch.insert(&self.partitions[*tree], key.as_slice(), value.as_slice())
                }
                Op::Remove(tree, key) => batch.remove(&self.partitions[*tree], key.as_slice()),
            }
        }
        batch.commit().context("fjall batch")?;
        self.keyspace
            .persist(fjall::PersistMode::SyncData)
            .context("fjall persist")?;
        Ok(())
    }
}

struct Redb {
    db: redb::Database,
}

impl Candidate for Redb {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut tables = TREES
                .iter()
                .map(|name| tx.open_table(redb::TableDefinition::<&[u8], &[u8]>::new(name)))
                .collect::<Result<Vec<_>, _>>()?;
            for op in ops {
                match op {
                    Op::Put(tree, key, value) => {
                        tables[*tree].insert(key.as_slice(), value.as_slice())?;
                    }
                    Op::Remove(tree, key) => {
                        tables[*tree].remove(key.as_slice())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn open(name: &str, dir: &Path) -> Result<Box<dyn Candidate>> {
    std::fs::create_dir_all(dir)?;
    Ok(match name {
        "sled" => {
            let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
            let trees = TREES
                .iter()
                .map(|name| db.open_tree(name))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(Sled { db, trees })
        }
        "fjall" => {
            let keyspace = fjall::Config::new(dir).open()?;
            let partitions = TREES
                .iter()
                .map(|name| keyspace.open_partition(name, Default::default()))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(Fjall {
                keyspace,
                partitions,
            })
        }
        "redb" => Box::new(Redb {
            db: redb::Database::create(dir.join("store.redb"))?,
        }),
        other => anyhow::bail!("unknown store {other:?} (sled, fjall, redb)"),
    })
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn size_on_disk(dir: &Path) -> u64 {
    walk(dir).unwrap_or(0)
}

fn walk(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            walk(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn main() -> Result<()> {
    let options = Options::parse();
    println!(
        "{} messages, {} per durable commit, 4 commits per group (ingest, decide, claim, deliver), {} writes per message",
        options.messages, options.group, 19
    );
    for name in options.stores.split(',') {
        let dir = options.dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = open(name, &dir)?;
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut first = 0;
        while first < options.messages {
            for phase in phases(first, options.group) {
                store.commit(&phase)?;
            }
            first += options.group;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        drop(store);
        println!(
            "{name:<6} {:>9.0} messages/s  {:>6.1} µs CPU per message  {:>7.1} MiB on disk",
            options.messages as f64 / wall,
            cpu * 1e6 / options.messages as f64,
            size_on_disk(&dir) as f64 / (1 << 20) as f64
        );
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(())
}
