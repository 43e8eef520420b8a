//! The project's coverage map, kept out of the library's types: for each option, whether
//! the runtime acts on it and which tests exercise it. The tests here check that every named
//! test exists and that `docs/config.md` holds the option table generated from the rows and
//! this map (regenerate it with `SIPWIRE_BLESS_DOCS=1 cargo test -p sipwire-config
//! docs_table`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sipwire_config::options::{self, OptionDef};
use sipwire_config::{markdown_table, RowNotes, TABLE_BEGIN, TABLE_END};

/// Whether sipwire's runtime acts on an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// The runtime implements the behaviour.
    Built,
    /// Parsed and validated; nothing in sipwire reads it (the row's doc says why).
    Parsed,
}

impl Status {
    /// The sentence `docs/config.md` prints after the row's doc.
    fn text(self) -> &'static str {
        match self {
            Status::Built => "Built.",
            Status::Parsed => "Parsed and validated; the runtime does not read it.",
        }
    }
}

use Status::{Built, Parsed};

/// Option ([`OptionDef::key`]: the core name, or `module.param` for modparam-only rows) →
/// status → the tests that exercise it beyond the table-driven ones every row gets. A bare
/// name is a test of this crate (`crates/config/src/tests/`); `file::test_fn` is a test of
/// the runtime, found through [`runtime_source`]. Only built options name runtime tests.
const COVERAGE: &[(&str, Status, &[&str])] = &[
    (
        "tcp_accept_aliases",
        Built,
        &[
            "outbound::accept_aliases_reuses_the_incoming_connection",
            "outbound::without_accept_aliases_a_new_connection_is_opened",
            "conn_table::tests::aliases_resolve_move_are_bounded_and_vanish_with_the_connection",
        ],
    ),
    (
        "tcp_accept_haproxy",
        Built,
        &[
            "options::wait_data_closes_a_silent_proxy_connection",
            "options::haproxy_on_rejects_a_connection_without_a_header",
            "haproxy_outbound::with_haproxy_on_an_outbound_connections_reply_is_delivered",
            "options::closed_connections_leave_no_timers",
            "haproxy_outbound::v2_header_sets_source_and_local_and_keeps_its_tlvs",
            "haproxy_outbound::v1_header_sets_local_to_its_destination",
            "haproxy_outbound::malformed_tlvs_are_ignored_and_a_bad_header_closes_only_its_connection",
        ],
    ),
    (
        "tcp_accept_hep3",
        Built,
        &["options::hep3_frames_when_enabled"],
    ),
    (
        "tcp_accept_no_cl",
        Built,
        &[
            "options::accept_no_cl_and_clone_rcvbuf",
            "options::accept_no_cl_frames_chunked_xcap_bodies",
        ],
    ),
    (
        "tcp_accept_unique",
        Built,
        &["options::accept_unique_refuses_a_second_connection_from_the_same_ip_and_port"],
    ),
    (
        "tcp_async",
        Built,
        &[
            "outbound::send_by_address_blocking_mode",
            "outbound::send_timeout_fails_a_blocking_send",
            "outbound::connect_timeout_fails_a_blocking_send",
            "outbound::send_timeout_closes_a_stuck_queue_in_async_mode",
            "outbound::connect_timeout_aborts_a_pending_connect_async",
        ],
    ),
    (
        "tcp_children",
        Built,
        &[
            "tcp_children_follows_children",
            "options::new_work_goes_to_the_least_busy_reader", "socket_options::tcp_children_starts_that_many_readers"],
    ),
    (
        "tcp_clone_rcvbuf",
        Built,
        &["options::accept_no_cl_and_clone_rcvbuf", "socket_options::tcp_clone_rcvbuf_0_lends_the_read_buffer_and_1_copies"],
    ),
    (
        "tcp_connection_lifetime",
        Built,
        &[
            "runtime_set_visible_in_new_snapshot_only",
            "options::lifetime_closes_idle_connections_and_traffic_postpones_it",
            "options::per_connection_lifetime_overrides_the_default",
        ],
    ),
    (
        "tcp_connection_match",
        Built,
        &[
            "connection_match::off_takes_the_newest_connection_whatever_its_local_port",
            "connection_match::on_prefers_the_sending_sockets_port_then_falls_back",
            "connection_match::with_reuse_port_the_forced_port_is_required_in_either_mode",
            "connection_match::forced_local_ip_must_match_when_off",
            "connection_match::forced_local_ip_must_match_when_on",
            "sipwired_connection_match::off_forwards_on_the_newer_connection",
            "sipwired_connection_match::on_forwards_on_the_first_listeners_connection_then_falls_back",
            "conn_table::tests::plans_prefer_the_local_port_then_fall_back",
        ],
    ),
    (
        "tcp_connect_timeout",
        Built,
        &[
            "outbound::connect_timeout_aborts_a_pending_connect_async",
            "outbound::connect_timeout_fails_a_blocking_send",
        ],
    ),
    (
        "tcp_conn_wq_max",
        Built,
        &[
            "outbound::slow_peer_hits_conn_wq_max_and_is_closed_while_a_healthy_one_carries_on",
            "outbound::queued_memory_is_bounded_and_released",
        ],
    ),
    (
        "tcp_crlf_ping",
        Built,
        &[
            "crlf_ping_both_spellings_last_wins",
            "options::crlf_ping_gets_a_pong_and_lone_crlf_gets_nothing",
            "options::crlf_pong_can_be_turned_off",
            "options::runtime_changes_apply_to_the_next_message",
        ],
    ),
    (
        "tcp_defer_accept",
        Built,
        &[
            "defer_accept_forms",
            "options::defer_accept_listener_still_delivers",
            "sys::tests::defer_accept_is_set_on_listener", "socket_options::tcp_defer_accept_is_set_on_the_listening_socket"],
    ),
    ("tcp_delayed_ack", Built, &["socket_options::tcp_delayed_ack_makes_the_handshake_ack_ride_on_the_first_data"]),
    (
        "tcp_fd_cache",
        Built,
        &[
            "outbound::send_by_address_with_fd_cache",
            "outbound::send_by_address_without_fd_cache",
            "outbound::eight_senders_one_connection_with_fd_cache",
            "outbound::eight_senders_one_connection_without_fd_cache",
        ],
    ),
    (
        "tcp_keepalive",
        Built,
        &[
            "options::keepalive_options_are_applied_on_accept",
            "keepalive_timeout::keepalive_timeout_fires_tcp_timeout",
            "sys::tests::listener_accepts_nonblocking_and_options_apply", "socket_options::tcp_keepidle_turns_keepalive_on_even_with_tcp_keepalive_no"],
    ),
    (
        "tcp_keepcnt",
        Built,
        &[
            "options::keepalive_options_are_applied_on_accept",
            "keepalive_timeout::keepalive_timeout_fires_tcp_timeout",
            "sys::tests::listener_accepts_nonblocking_and_options_apply", "socket_options::tcp_keepidle_turns_keepalive_on_even_with_tcp_keepalive_no"],
    ),
    (
        "tcp_keepidle",
        Built,
        &[
            "options::keepalive_options_are_applied_on_accept",
            "keepalive_timeout::keepalive_timeout_fires_tcp_timeout",
            "sys::tests::listener_accepts_nonblocking_and_options_apply", "socket_options::tcp_keepidle_turns_keepalive_on_even_with_tcp_keepalive_no"],
    ),
    (
        "tcp_keepintvl",
        Built,
        &[
            "options::keepalive_options_are_applied_on_accept",
            "keepalive_timeout::keepalive_timeout_fires_tcp_timeout",
            "sys::tests::listener_accepts_nonblocking_and_options_apply", "socket_options::tcp_keepidle_turns_keepalive_on_even_with_tcp_keepalive_no"],
    ),
    (
        "tcp_linger2",
        Built,
        &["sys::tests::listener_accepts_nonblocking_and_options_apply", "socket_options::tcp_linger2_is_set_on_accepted_sockets"],
    ),
    (
        "tcp_max_connections",
        Built,
        &[
            "options::max_connections_refuses_the_extra_one_and_keeps_the_others",
            "options::runtime_changes_apply_to_the_next_message",
        ],
    ),
    (
        "tcp_no_connect",
        Built,
        &[
            "script_spelling_is_an_alias_of_the_cfg_name",
            "outbound::no_connect_at_runtime_stops_new_connects_only",
        ],
    ),
    (
        "tcp_poll_method",
        Built,
        &[
            "poll_method_names",
            "inbound::by_method::poll",
            "inbound::by_method::epoll_lt",
            "inbound::by_method::epoll_et",
            "inbound::by_method::select",
            "socket_options::tcp_poll_method_decides_which_kernel_interface_the_threads_wait_in",
        ],
    ),
    (
        "tcp_rd_buf_size",
        Built,
        &[
            "rd_buf_size_clamp_in_file_error_at_runtime",
            "options::rd_buf_size_rejects_the_oversize_message_and_others_carry_on",
            "sipwired_haproxy::calls_through_haproxy_carry_the_clients_address",
            "sipwired_haproxy::a_client_without_a_proxy_header_is_refused_and_costs_no_reader_time",
        ],
    ),
    (
        "tcp_reuse_port",
        Built,
        &[
            "options::reuse_port_lets_two_runtimes_share_a_port",
            "outbound::reuse_port_sends_from_the_listener_port",
            "sys::tests::listener_accepts_nonblocking_and_options_apply",
            "socket_options::tcp_reuse_port_is_set_on_the_listening_socket",
            "sipwired_reuse_port::two_instances_share_a_port_and_one_serves_alone_once_the_other_stops",
        ],
    ),
    (
        "tcp_script_mode",
        Built,
        &["options::handler_failure_closes_unless_script_mode"],
    ),
    (
        "tcp_send_timeout",
        Built,
        &[
            "send_timeout_units",
            "opensips_send_timeout_default_needs_proto_tcp",
            "outbound::send_timeout_closes_a_stuck_queue_in_async_mode",
            "outbound::send_timeout_fails_a_blocking_send",
        ],
    ),
    (
        "tcp_source_ipv4",
        Built,
        &[
            "source_ip_family",
            "outbound::source_address_and_its_fallback",
        ],
    ),
    ("tcp_source_ipv6", Built, &["source_ip_family", "ipv6::source_ipv6_is_used_and_falls_back"]),
    ("tcp_syncnt", Built, &["socket_options::tcp_syncnt_is_set_on_listeners_and_outbound_sockets"]),
    (
        "tcp_msg_read_timeout",
        Built,
        &[
            "slot_timeouts::msg_read_timeout_closes_an_unfinished_message_and_spares_one_finished_in_time",
            "slot_timeouts::msg_read_timeout_covers_a_started_body",
            "slot_timeouts::msg_read_timeout_changes_at_runtime",
            "lifecycle::tests::timers_decide_from_plain_facts",
        ],
    ),
    (
        "tcp_msg_data_timeout",
        Built,
        &[
            "slot_timeouts::msg_data_timeout_closes_a_silent_connection_and_keepalives_do_not_count",
            "slot_timeouts::msg_data_timeout_is_for_accepted_connections_only",
            "lifecycle::tests::timers_decide_from_plain_facts",
        ],
    ),
    (
        "tcp_accept_iplimit",
        Built,
        &[
            "slot_timeouts::accept_iplimit_refuses_one_more_from_the_same_ip_only",
            "tcp_main::iplimit::tests::counts_per_ip_and_forgets_at_zero",
        ],
    ),
    (
        "tcp_wait_data",
        Built,
        &[
            "sipwired_haproxy::a_client_without_a_proxy_header_is_refused_and_costs_no_reader_time",
            "wait_data_ms_changes_at_runtime_in_kamailios_range",
            "tcp_cfg_group_is_kamailios_list",
            "options::wait_data_closes_a_silent_proxy_connection",
            "options::closed_connections_leave_no_timers",
        ],
    ),
    (
        "tcp_wq_blk_size",
        Built,
        &["wq::tests::packs_into_blocks_and_flushes_in_order_across_partial_writes"],
    ),
    (
        "tcp_wq_max",
        Built,
        &["outbound::global_wq_max_holds_with_many_slow_peers"],
    ),
    ("tcp_port", Built, &["listen_forms"]),
    (
        "proto_tcp.tcp_send_timeout",
        Built,
        &[
            "send_timeout_units",
            "opensips_send_timeout_default_needs_proto_tcp",
            "outbound::send_timeout_closes_a_stuck_queue_in_async_mode",
            "outbound::send_timeout_fails_a_blocking_send",
        ],
    ),
    (
        "tcp_max_msg_chunks",
        Built,
        &["options::max_msg_chunks_closes_a_message_dribbled_in_too_many_reads"],
    ),
    (
        "tcp_crlf_pingpong",
        Built,
        &[
            "crlf_ping_both_spellings_last_wins",
            "options::crlf_ping_gets_a_pong_and_lone_crlf_gets_nothing",
            "options::crlf_pong_can_be_turned_off",
            "options::runtime_changes_apply_to_the_next_message",
        ],
    ),
    (
        "tcp_crlf_drop",
        Built,
        &["options::crlf_drop_makes_lone_crlf_not_count_as_traffic", "options::without_crlf_drop_a_lone_crlf_waits_for_what_follows"],
    ),
    (
        "proto_tcp.tcp_async",
        Built,
        &[
            "async_both_spellings",
            "outbound::send_by_address_blocking_mode",
            "outbound::send_timeout_fails_a_blocking_send",
            "outbound::connect_timeout_fails_a_blocking_send",
            "outbound::send_timeout_closes_a_stuck_queue_in_async_mode",
            "outbound::connect_timeout_aborts_a_pending_connect_async",
        ],
    ),
    (
        "tcp_async_max_postponed_chunks",
        Built,
        &["outbound::postponed_chunks_limit_counts_messages", "outbound::postponed_chunks_are_messages_pending_not_pushes_since_empty"],
    ),
    ("tcp_async_local_connect_timeout", Parsed, &[]),
    (
        "tcp_async_local_write_timeout",
        Built,
        &[
            "async_write::the_sender_waits_that_long_for_room_then_queues",
            "async_write::zero_queues_when_the_socket_is_full_and_the_rest_still_arrives",
            "async_write::a_long_timeout_lets_the_sender_write_it_all_while_the_peer_reads",
        ],
    ),
    (
        "tcpops.closed_event",
        Built,
        &["options::closed_event_modes"],
    ),
    ("tcpops.event_callback", Parsed, &[]),
    ("sctp_socket_rcvbuf", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_socket_sndbuf", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_autoclose", Built, &["sctp::socket_options_from_the_config_are_on_the_socket", "sctp::autoclose_ends_an_idle_association"]),
    ("sctp_send_ttl", Built, &[]),
    ("sctp_send_retries", Built, &["sctp::send_retries_resend_a_message_the_kernel_gave_back_then_report_it_unsent"]),
    ("sctp_assoc_tracking", Built, &["sctp_assoc_dependency", "sctp::max_assocs_with_tracking_refuses_the_new_association_before_sending"]),
    ("sctp_assoc_reuse", Built, &["sctp_assoc_dependency", "sctp::messages_arrive_with_an_association_id_and_replies_go_back"]),
    ("sctp_max_assocs", Built, &["sctp::max_assocs_with_tracking_refuses_the_new_association_before_sending"]),
    ("sctp_srto_initial", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_srto_max", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_srto_min", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_asocmaxrxt", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_init_max_attempts", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_init_max_timeo", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_hbinterval", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_pathmaxrxt", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_sack_delay", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_sack_freq", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    ("sctp_max_burst", Built, &["sctp::socket_options_from_the_config_are_on_the_socket"]),
    (
        "disable_tcp",
        Built,
        &["options::disable_tcp_listens_nowhere", "sctp::disable_tcp_keeps_sctp_working"],
    ),
    (
        "listen",
        Built,
        &[
            "listen_forms",
            "options::accept_unique_refuses_a_second_connection_from_the_same_ip_and_port",
            "options::reuse_port_lets_two_runtimes_share_a_port",
            "connection_match::forced_local_ip_must_match_when_on",
            "multihomed_sctp_listen",
            "sctp::without_kernel_sctp_tcp_is_unaffected_and_sctp_only_fails_clearly",
            "sctp::a_multihomed_endpoint_binds_every_address_and_answers_on_each", "socket_options::no_listen_line_listens_on_every_ipv4_and_ipv6_interface", "ipv6::listen_accept_deliver_and_reply_over_ipv6"],
    ),
    // Read by sipwired (crates/sipwired/tests/metrics.rs), not by the library.
    ("metrics_listen", Built, &[]),
    (
        "ctl.binrpc",
        Built,
        &[
            "sipwired_kamcmd::kamcmd_prints_what_kamailio_prints",
            "sipwired_kamcmd::the_binrpc_socket_is_on_by_default_beside_the_control_socket",
        ],
    ),
    (
        "jsonrpcs.fifo_name",
        Built,
        &["sipwired_kamcmd::kamctl_and_a_kamcli_client_get_kamailios_answers"],
    ),
    (
        "jsonrpcs.dgram_socket",
        Built,
        &["sipwired_kamcmd::kamctl_and_a_kamcli_client_get_kamailios_answers"],
    ),
];

/// The coverage entry of `row`; every row has exactly one (checked below).
fn coverage(row: &OptionDef) -> (Status, &'static [&'static str]) {
    let key = row.key();
    COVERAGE
        .iter()
        .find(|(k, ..)| *k == key)
        .map(|(_, status, tests)| (*status, *tests))
        .unwrap_or_else(|| panic!("{key}: no entry in COVERAGE"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The source file (relative to the workspace) that holds the tests named `file::...`.
fn runtime_source(file: &str) -> Option<String> {
    Some(match file {
        "inbound" | "options" | "outbound" | "keepalive_timeout" | "emfile" | "slot_timeouts"
        | "socket_options" | "ipv6" | "haproxy_outbound" | "connection_match" | "async_write" => {
            format!("crates/sipwire/tests/{file}.rs")
        }
        "sipwired_connection_match" => "crates/sipwired/tests/connection_match.rs".to_string(),
        "sipwired_kamcmd" => "crates/sipwired/tests/kamcmd.rs".to_string(),
        "sipwired_haproxy" => "crates/sipwired/tests/haproxy.rs".to_string(),
        "sipwired_reuse_port" => "crates/sipwired/tests/reuse_port.rs".to_string(),
        "reader" | "conn_table" | "timer" | "wq" | "lifecycle" => {
            format!("crates/sipwire/src/{file}.rs")
        }
        "tcp_main" => "crates/sipwire/src/tcp_main/iplimit.rs".to_string(),
        "sctp" => "crates/sipwire/tests/sctp.rs".to_string(),
        "sys" => "crates/sys/src/socket.rs".to_string(),
        _ => return None,
    })
}

/// Every `.rs` file of this crate's unit tests, concatenated.
fn config_test_sources() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no test sources in {}", dir.display());
    paths.iter().map(|p| read(p)).collect()
}

#[test]
fn every_option_has_one_coverage_entry() {
    let keys: HashSet<String> = options::all().map(|row| row.key()).collect();
    let mut seen = HashSet::new();
    for (key, ..) in COVERAGE {
        assert!(seen.insert(*key), "{key}: twice in COVERAGE");
        assert!(keys.contains(*key), "{key}: in COVERAGE but no such option");
    }
    for row in options::all() {
        coverage(row);
    }
}

/// Every test an option names exists, and only built options name runtime tests.
#[test]
fn runtime_tests_name_existing_tests_of_built_rows() {
    let config_tests = config_test_sources();
    for (key, status, tests) in COVERAGE {
        for t in *tests {
            let Some((file, path)) = t.split_once("::") else {
                assert!(
                    config_tests.contains(&format!("fn {t}()")),
                    "{key}: no test {t} in crates/config/src/tests/"
                );
                continue;
            };
            assert_eq!(
                *status, Built,
                "{key}: runtime test {t} on an option not built"
            );
            let src = runtime_source(file).unwrap_or_else(|| panic!("{key}: no file for {t}"));
            let text = read(&workspace().join(&src));
            let name = path.rsplit("::").next().unwrap_or(path);
            // `inbound::by_method::*` are generated by a macro from `name: "method"`.
            let found = text.contains(&format!("fn {name}()"))
                || (path.starts_with("by_method::") && text.contains(&format!("{name}: \"")));
            assert!(found, "{key}: no test {t} in {src}");
        }
    }
}

/// `docs/config.md` holds exactly the table generated from the rows and [`COVERAGE`]
/// (regenerate with `SIPWIRE_BLESS_DOCS=1 cargo test -p sipwire-config docs_table`), and
/// names every option.
#[test]
fn docs_table_matches_the_option_table() {
    let path = workspace().join("docs/config.md");
    let doc = read(&path);
    let begin = doc.find(TABLE_BEGIN).expect("begin marker") + TABLE_BEGIN.len();
    let end = doc.find(TABLE_END).expect("end marker");
    let table = markdown_table(|row| {
        let (status, tests) = coverage(row);
        RowNotes {
            status: status.text(),
            tests,
        }
    });
    let current = doc[begin..end].trim();
    if std::env::var_os("SIPWIRE_BLESS_DOCS").is_some() && current != table.trim() {
        let fresh = format!("{}\n{}\n{}", &doc[..begin], table.trim(), &doc[end..]);
        std::fs::write(&path, fresh).expect("write docs/config.md");
        return;
    }
    assert_eq!(
        current,
        table.trim(),
        "docs/config.md is stale: rerun with SIPWIRE_BLESS_DOCS=1"
    );
    for row in options::all() {
        assert!(
            current.contains(&format!("\"{}\"", row.name))
                || current.contains(&format!("`{}`", row.name))
        );
        assert!(current.contains(&row.cfg_key()), "{}", row.cfg_key());
    }
}
