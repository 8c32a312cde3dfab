//! Command line, modelled on Zeek's.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::scaffold::Template;

/// Passive network security monitor writing Zeek-compatible logs.
#[derive(Debug, Parser)]
#[command(
    name = "sandpiper",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

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

    /// Log writers, comma-separated: tsv (Zeek's tab-separated format with #-headers),
    /// json (JSON lines with Zeek's field names) or the name of any log-writer module. The
    /// first writes <path>.log, each further one <path>-<writer>.log beside it (e.g.
    /// `tsv,json`: conn.log and conn-json.log).
    #[arg(long = "log-format", value_name = "WRITERS", default_value = "tsv")]
    pub log_format: String,

    /// Log filters (Zeek's Log::Filter): a TOML file of [[filter]] entries naming a stream,
    /// a writer, a file and the columns to include or exclude (see README).
    #[arg(long = "log-config", value_name = "FILE")]
    pub log_config: Option<PathBuf>,

    /// Rotate every log each INTERVAL of network time (e.g. 1h, 30m, 90s) to Zeek's rotated
    /// names, <path>.<open time %Y-%m-%d-%H-%M-%S>.log; the last files are rotated at exit.
    #[arg(long = "rotate", value_name = "INTERVAL")]
    pub rotate: Option<String>,

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

    /// What tells connections apart, as Zeek's ConnKey::factory: five-tuple (addresses, ports,
    /// protocol), or vlan-five-tuple, which adds the outer and inner VLAN IDs (Zeek's
    /// frameworks/conn_key/vlan_fivetuple) and logs them as id.ctx.vlan/id.ctx.inner_vlan.
    #[arg(long = "conn-key", value_name = "KEY", value_enum, default_value_t = ConnKeyArg::FiveTuple)]
    pub conn_key: ConnKeyArg,

    /// Tunnels inside tunnels are decapsulated this many levels deep (Zeek's Tunnel::max_depth);
    /// a tunnel beyond it gives the weird exceeded_tunnel_max_depth (..._in_tunnel inside a
    /// tunnel) and is not analysed.
    #[arg(long = "tunnel-max-depth", value_name = "N", default_value_t = crate::engine::TUNNEL_MAX_DEPTH)]
    pub tunnel_max_depth: u8,

    /// Zeek's likely_server_ports: a connection first seen from one of these ports (without a
    /// clean SYN) is flipped so the server is the responder. zeek: the ports Zeek's default
    /// scripts register; none; or a list in Zeek's notation, e.g. 22/tcp,53/udp.
    #[arg(
        long = "likely-server-ports",
        value_name = "PORTS",
        default_value = "zeek"
    )]
    pub likely_server_ports: String,

    /// Sets a module option, MODULE.OPTION=VALUE (repeat for several), as Zeek's redef of a
    /// script option: e.g. ssh.max_packet_length=1000. Options and defaults: the module's
    /// manifest ([options]) and README; `sandpiper module check` shows them.
    #[arg(long = "set", value_name = "MODULE.OPTION=VALUE")]
    pub set: Vec<String>,

    /// Memory for TCP payload reassembly over all connections, in MiB; when full, the
    /// connection being served delivers what waits behind its holes (content gaps).
    #[arg(long = "reassembly-memory", value_name = "MIB", default_value_t = 256)]
    pub reassembly_memory: usize,

    /// Snapshot length for live capture.
    #[arg(long = "snaplen", value_name = "BYTES", default_value_t = 65_535)]
    pub snaplen: i32,

    /// Directory of Wasm modules (<name>.wasm + <name>.toml manifest) to load; default: the
    /// modules built from this repository.
    #[arg(long = "modules", value_name = "DIR", conflicts_with = "no_modules")]
    pub modules: Option<PathBuf>,

    /// Load no Wasm modules (fast path and conn.log only).
    #[arg(long = "no-modules")]
    pub no_modules: bool,

    /// List the loaded modules (name, version, kind, description, origin) and exit, like zeek -N.
    #[arg(short = 'N', long = "list-modules")]
    pub list_modules: bool,

    /// Where compiled modules are cached (keyed by content hash); default
    /// $XDG_CACHE_HOME/sandpiper or ~/.cache/sandpiper.
    #[arg(long = "cache-dir", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile modules on every start instead of using the artifact cache.
    #[arg(long = "no-cache")]
    pub no_cache: bool,

    /// Events per batch delivered to event handlers (one call per handler per batch).
    #[arg(long = "event-batch", value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub event_batch: u32,

    /// Run event handlers on the packet thread instead of a thread of their own (same logs;
    /// log-writer components still run on the log-writer thread).
    #[arg(long = "inline-handlers")]
    pub inline_handlers: bool,

    /// Failures within the quarantine window that disable a module (0: never).
    #[arg(long = "quarantine-after", value_name = "N", default_value_t = 5)]
    pub quarantine_after: usize,

    /// The quarantine window, in seconds of network time.
    #[arg(
        long = "quarantine-window",
        value_name = "SECS",
        default_value_t = 60.0
    )]
    pub quarantine_window: f64,

    /// Control socket for `sandpiper ctl` (reload, status); default: <logdir>/sandpiper.ctl.
    #[arg(long = "ctl-socket", value_name = "PATH")]
    pub ctl_socket: Option<PathBuf>,

    /// Replay files at their recorded speed times this factor (1 = real time, 10 = ten times
    /// faster) instead of as fast as possible.
    #[arg(long = "pace", value_name = "FACTOR")]
    pub pace: Option<f64>,

    /// Do not print the progress bar or the summary line.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with Wasm modules.
    Module {
        #[command(subcommand)]
        action: ModuleCommand,
    },
    /// Talk to a running sandpiper through its control socket.
    Ctl {
        /// The control socket (the running sandpiper's --ctl-socket, by default
        /// <its logdir>/sandpiper.ctl).
        #[arg(long = "socket", value_name = "PATH", default_value = "sandpiper.ctl")]
        socket: PathBuf,
        action: CtlAction,
    },
    /// Create a module crate from a template, like Zeek's init-plugin.
    ///
    /// Writes DIR/NAME/ with Cargo.toml, module.toml (the manifest), src/lib.rs (a small working
    /// module of the kind), README.md and .gitignore. The crate builds as it is with
    /// `cargo build --release --target wasm32-wasip2`.
    New {
        /// The kind of module.
        #[arg(value_name = "KIND")]
        kind: Template,
        /// The module's name: 1-64 characters of a-z, 0-9 and '-', starting with a letter.
        name: String,
        /// Where to create the NAME directory.
        #[arg(long = "dir", value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// The sandpiper-sdk to depend on; default: the sdk/ of the source tree sandpiper was
        /// built from.
        #[arg(long = "sdk", value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
}

/// `--conn-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConnKeyArg {
    FiveTuple,
    VlanFiveTuple,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CtlAction {
    /// Rescan the modules directory now and swap in changed modules.
    Reload,
    /// Show the loaded modules, calls, fuel used, failures and quarantines.
    Status,
    /// Rotate every log now (at the next packet), as the --rotate timer does.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Validate one module (component + manifest beside it) and say what is wrong.
    Check {
        /// The component, e.g. modules/dns.wasm (its manifest is modules/dns.toml).
        file: PathBuf,
    },
}
