//! Command line, modelled on Zeek's.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Zeek's tab-separated format with #-headers (default).
    Tsv,
    /// One JSON object per line, with Zeek's field names.
    Json,
}

/// Passive network security monitor writing Zeek-compatible logs.
#[derive(Debug, Parser)]
#[command(name = "sandpiper", version, about, long_about = None)]
pub struct Args {
    /// Read packets from a pcap or pcapng file; repeat to read several files in
    /// order as one stream (as Zeek does).
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "interface"
    )]
    pub read: Vec<PathBuf>,

    /// Capture live from a network interface (libpcap); stop with Ctrl-C or SIGTERM.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,

    /// BPF capture filter, e.g. 'tcp port 80'.
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,

    /// Ignore bad IP/TCP/UDP/ICMP checksums and analyse such packets (Zeek's -C).
    #[arg(short = 'C', long = "no-checksums")]
    pub ignore_checksums: bool,

    /// Directory the logs are written to (created if missing).
    #[arg(long = "logdir", value_name = "DIR", default_value = ".")]
    pub logdir: PathBuf,

    /// Log format.
    #[arg(long = "log-format", value_enum, default_value_t = FormatArg::Tsv)]
    pub log_format: FormatArg,

    /// Networks counted as local for local_orig/local_resp, as CIDR,CIDR,...;
    /// default: private and reserved address space, as in current Zeek.
    #[arg(long = "local-nets", value_name = "CIDRS")]
    pub local_nets: Option<String>,

    /// Seed for connection uids, making runs reproducible (tests).
    #[arg(long = "seed", value_name = "N")]
    pub seed: Option<u64>,

    /// Most connections tracked at once; when full, the least recently active
    /// connection of a sample is logged and forgotten.
    #[arg(long = "max-flows", value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,

    /// Snapshot length for live capture.
    #[arg(long = "snaplen", value_name = "BYTES", default_value_t = 65_535)]
    pub snaplen: i32,

    /// Do not print the progress bar or the summary line.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}
