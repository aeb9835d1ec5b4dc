//! Tests of loading and validation: the shipped configs, every error class
//! with its path (and line), unknown keys at several depths, and hostile
//! input.

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;
use serde_yaml_ng::Value;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 27, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse(yaml: &str) -> Result<Config, ConfigErrors> {
    Config::validate_at(yaml, "test.yaml", Path::new("/etc/zoneguard"), now())
}

fn errors(yaml: &str) -> Vec<ConfigError> {
    match parse(yaml) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.errors,
    }
}

/// The error of `kind` at exactly `path`.
fn find<'a>(errs: &'a [ConfigError], kind: ErrorKind, path: &str) -> &'a ConfigError {
    errs.iter()
        .find(|e| e.kind == kind && e.path == path)
        .unwrap_or_else(|| panic!("no {kind:?} at {path} in {errs:#?}"))
}

const BASE: &str = "\
name: t
zones:
  - id: internet
    default: true
  - id: a
    level: 2
    cidrs: [10.1.0.0/16]
  - id: b
    level: 3
    cidrs: [10.2.0.0/16, 'fd00:2::/64']
    assets: strict
    hosts:
      - {ip: 10.2.0.1, mac: '02:00:00:00:00:01', gateway: true}
groups:
  ab: [a, b]
";

#[test]
fn base_is_valid() {
    let cfg = parse(BASE).expect("valid");
    assert_eq!(cfg.zones.len(), 3);
    assert_eq!(cfg.zone_index("b"), Some(2));
    assert_eq!(cfg.expand_group("ab"), vec![1, 2]);
    assert_eq!(cfg.expand_group("a"), vec![1]);
    assert_eq!(cfg.expand_group("nope"), Vec::<usize>::new());
    assert_eq!(cfg.default_zone(), Some(0));
    assert_eq!(cfg.timezone, chrono_tz::Tz::UTC);
    assert_eq!(cfg.zones[2].hosts[0].mac, Some([2, 0, 0, 0, 0, 1]));
    assert_eq!(cfg.zones[2].cidrs.len(), 2);
    // Defaults.
    assert_eq!(cfg.flow, FlowConfig::default());
    assert_eq!(cfg.flow.timeouts.tcp.established, 600);
    assert_eq!(cfg.defrag.max_bytes, 32 * 1024 * 1024);
    assert_eq!(cfg.policy.rogue_alert_interval_secs, 3600);
    assert_eq!(cfg.outputs.eve.filename, "eve.json");
    assert_eq!(cfg.outputs.eve.types.len(), EVE_TYPES.len());
    assert_eq!(
        cfg.rules.directories,
        vec![PathBuf::from("/etc/zoneguard/rules")]
    );
    assert_eq!(cfg.vars, Vars::suricata_defaults());
}

#[test]
fn builtin_default_has_no_zones() {
    let cfg = Config::builtin_default();
    assert!(cfg.zones.is_empty());
    assert_eq!(cfg.vars, Vars::suricata_defaults());
    assert_eq!(cfg.rules.directories, vec![PathBuf::from("rules")]);
    assert_eq!(cfg.timezone, chrono_tz::Tz::UTC);
}

#[test]
fn home_net_comes_from_home_nets_unless_explicit() {
    let cfg = parse("name: t\nhome_nets: [10.0.0.0/8, 'fd00::/8']\n").expect("valid");
    assert_eq!(cfg.vars.address_groups["HOME_NET"], "[10.0.0.0/8,fd00::/8]");
    assert_eq!(cfg.vars.address_groups["EXTERNAL_NET"], "!$HOME_NET");
    let cfg = parse(
        "name: t\nhome_nets: [10.0.0.0/8]\nvars:\n  address-groups:\n    HOME_NET: '[10.1.0.0/16]'\n  port-groups:\n    HTTP_PORTS: 8080\n",
    )
    .expect("valid");
    assert_eq!(cfg.vars.address_groups["HOME_NET"], "[10.1.0.0/16]");
    assert_eq!(cfg.vars.port_groups["HTTP_PORTS"], "8080");
    assert_eq!(cfg.vars.port_groups["SSH_PORTS"], "22");
}

#[test]
fn rule_paths_resolve_against_the_config_directory() {
    let cfg = parse(
        "name: t\nrules:\n  directories: [../rules, /abs/rules]\n  files: [extra.rules]\n  classification_file: ../rules/classification.config\n",
    )
    .expect("valid");
    assert_eq!(
        cfg.rules.directories,
        vec![
            PathBuf::from("/etc/zoneguard/../rules"),
            PathBuf::from("/abs/rules")
        ]
    );
    assert_eq!(
        cfg.rules.files,
        vec![PathBuf::from("/etc/zoneguard/extra.rules")]
    );
    assert_eq!(
        cfg.rules.classification_file,
        Some(PathBuf::from(
            "/etc/zoneguard/../rules/classification.config"
        ))
    );
}

#[test]
fn settings_sections_override_defaults() {
    let cfg = parse(
        "name: t\ntimezone: Asia/Shanghai\nflow:\n  max_flows: 1000\n  timeouts:\n    udp: {established: 60}\ndefrag: {timeout_secs: 30}\npolicy:\n  enabled: {rogue_device: false}\noutputs:\n  eve: {types: [alert, flow]}\n",
    )
    .expect("valid");
    assert_eq!(cfg.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(cfg.flow.max_flows, 1000);
    assert_eq!(cfg.flow.timeouts.udp.established, 60);
    assert_eq!(cfg.flow.timeouts.udp.new, 30);
    assert_eq!(cfg.flow.timeouts.tcp.new, 60);
    assert_eq!(cfg.defrag.timeout_secs, 30);
    assert!(!cfg.policy.enabled.rogue_device);
    assert!(cfg.policy.enabled.isolated_breach);
    assert_eq!(cfg.outputs.eve.types, vec!["alert", "flow"]);
}

#[test]
fn syntax_error_has_the_library_location() {
    let errs = errors("name: t\nzones: [\n  - id: x\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, ErrorKind::Syntax);
    assert!(errs[0].line.is_some() && errs[0].column.is_some());
    assert!(
        !errs[0].message.contains(" at line "),
        "{}",
        errs[0].message
    );
    let errs = errors("name: t\nname: u\n");
    assert_eq!(errs[0].kind, ErrorKind::Syntax);
    assert!(errs[0].message.contains("duplicate"), "{}", errs[0].message);
}

#[test]
fn empty_and_non_mapping_documents() {
    assert_eq!(errors("")[0].kind, ErrorKind::MissingKey);
    assert_eq!(errors("# only a comment\n")[0].kind, ErrorKind::MissingKey);
    assert_eq!(errors("- a\n- b\n")[0].kind, ErrorKind::WrongType);
    assert_eq!(errors("42")[0].kind, ErrorKind::WrongType);
    assert_eq!(errors("zones: []\n")[0].kind, ErrorKind::MissingKey);
}

#[test]
fn unknown_keys_rejected_at_every_depth() {
    let yaml = "\
name: t
colour: blue
zones:
  - id: internet
    default: true
    colour: red
  - id: a
    level: 2
    cidrs: [10.1.0.0/16]
    hosts:
      - {ip: 10.1.0.1, colour: green}
allow:
  - {from: a, to: internet, services: [any], colour: x}
flow:
  timeouts:
    tcp: {new: 1, colour: y}
vars:
  colour-groups: {}
indicators:
  domains:
    - {value: a.example, category: malware/botnet, colour: z}
outputs:
  eve: {colour: w}
policy:
  enabled: {colour: v}
";
    let errs = errors(yaml);
    let at = |p: &str, line: usize| {
        let e = find(&errs, ErrorKind::UnknownKey, p);
        assert_eq!(e.line, Some(line), "{p}: {e:?}");
    };
    at("colour", 2);
    at("zones[0].colour", 6);
    at("zones[1].hosts[0].colour", 11);
    at("allow[0].colour", 13);
    at("flow.timeouts.tcp.colour", 16);
    at("vars.colour-groups", 18);
    at("indicators.domains[0].colour", 21);
    at("outputs.eve.colour", 23);
    at("policy.enabled.colour", 25);
    assert_eq!(errs.len(), 9, "{errs:#?}");
    assert!(errs[0].message.contains("expected one of"));
}

#[test]
fn wrong_types_are_reported_with_paths() {
    let errs = errors(
        "name: [x]\nzones:\n  - id: internet\n    default: yes-please\n  - id: a\n    level: high\n    cidrs: 10.0.0.0/8\nadmins: ops\nflow: {max_flows: -1}\n",
    );
    find(&errs, ErrorKind::WrongType, "name");
    find(&errs, ErrorKind::WrongType, "zones[0].default");
    let lvl = find(&errs, ErrorKind::WrongType, "zones[1].level");
    assert_eq!(lvl.line, Some(6));
    find(&errs, ErrorKind::WrongType, "zones[1].cidrs");
    find(&errs, ErrorKind::WrongType, "admins");
    find(&errs, ErrorKind::WrongType, "flow.max_flows");
}

#[test]
fn malformed_values_are_reported_with_paths_and_lines() {
    let yaml = "\
name: t
timezone: Mars/Olympus
home_nets: [10.0.0.0/33]
zones:
  - id: internet
    default: true
  - id: a
    level: 7
    cidrs: [10.1.0.0/16, 10.3.0.5/16, 10.9.0.0]
    vlan: 5000
    assets: sometimes
    hosts:
      - {ip: 10.1.0.300, mac: '02:00:00:00:00:01'}
      - {ip: 10.1.0.2, mac: '02:00:00:00:00'}
allow:
  - from: a
    to: internet
    services: [tcp/99999, sctp/1, udp/9-1]
    expires: next tuesday
    src_hosts: [10.1.0.x]
cleartext_banned_min_level: 9
cleartext_services: [telnet]
";
    let errs = errors(yaml);
    let tz = find(&errs, ErrorKind::MalformedTimezone, "timezone");
    assert_eq!((tz.line, tz.column), (Some(2), Some(1)));
    let c = find(&errs, ErrorKind::MalformedCidr, "home_nets[0]");
    assert_eq!((c.line, c.column), (Some(3), Some(13)));
    assert!(c.message.contains("10.0.0.0/33"), "{}", c.message);
    assert_eq!(
        find(&errs, ErrorKind::LevelOutOfRange, "zones[1].level").line,
        Some(8)
    );
    let hb = find(&errs, ErrorKind::MalformedCidr, "zones[1].cidrs[1]");
    assert!(hb.message.contains("host bits"), "{}", hb.message);
    assert_eq!(hb.line, Some(9));
    find(&errs, ErrorKind::MalformedCidr, "zones[1].cidrs[2]");
    assert_eq!(
        find(&errs, ErrorKind::InvalidValue, "zones[1].vlan").line,
        Some(10)
    );
    find(&errs, ErrorKind::InvalidValue, "zones[1].assets");
    assert_eq!(
        find(&errs, ErrorKind::MalformedIp, "zones[1].hosts[0].ip").line,
        Some(13)
    );
    assert_eq!(
        find(&errs, ErrorKind::MalformedMac, "zones[1].hosts[1].mac").line,
        Some(14)
    );
    let s0 = find(&errs, ErrorKind::MalformedService, "allow[0].services[0]");
    assert_eq!((s0.line, s0.column), (Some(18), Some(16)));
    find(&errs, ErrorKind::MalformedService, "allow[0].services[1]");
    find(&errs, ErrorKind::MalformedService, "allow[0].services[2]");
    assert_eq!(
        find(&errs, ErrorKind::MalformedExpires, "allow[0].expires").line,
        Some(19)
    );
    assert_eq!(
        find(&errs, ErrorKind::MalformedIp, "allow[0].src_hosts[0]").line,
        Some(20)
    );
    find(
        &errs,
        ErrorKind::LevelOutOfRange,
        "cleartext_banned_min_level",
    );
    find(&errs, ErrorKind::MalformedService, "cleartext_services[0]");
    // Sorted by position.
    let lines: Vec<usize> = errs.iter().filter_map(|e| e.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn default_zone_must_be_exactly_one() {
    let errs = errors("name: t\nzones:\n  - {id: a, level: 1, cidrs: [10.0.0.0/8]}\n");
    find(&errs, ErrorKind::DefaultZone, "zones");
    let errs = errors(
        "name: t\nzones:\n  - {id: i1, default: true}\n  - {id: i2, default: true}\n  - {id: i3, default: true}\n",
    );
    assert_eq!(
        find(&errs, ErrorKind::DefaultZone, "zones[1].default").line,
        Some(4)
    );
    find(&errs, ErrorKind::DefaultZone, "zones[2].default");
    let errs = errors("name: t\nzones:\n  - {id: i, default: true, cidrs: [10.0.0.0/8]}\n");
    find(&errs, ErrorKind::InvalidValue, "zones[0].cidrs");
}

#[test]
fn duplicate_zone_ids_and_group_names() {
    let errs = errors(
        &format!("{BASE}  a: [b]\n  x: [a]\nextra: 1\n")
            .replace("extra: 1\n", "")
            .replace(
                "  - id: b\n",
                "  - id: a\n    level: 1\n    cidrs: [10.9.0.0/16]\n  - id: b\n",
            ),
    );
    let d = find(&errs, ErrorKind::DuplicateId, "zones[2].id");
    assert_eq!(d.line, Some(8));
    find(&errs, ErrorKind::DuplicateId, "groups.a");
}

#[test]
fn overlapping_zones_v4_and_v6() {
    let yaml = "\
name: t
zones:
  - {id: internet, default: true}
  - {id: a, level: 1, cidrs: [10.0.0.0/8, 'fd00::/16']}
  - {id: b, level: 1, cidrs: [10.20.0.0/16, 192.168.0.0/24]}
  - {id: c, level: 1, cidrs: ['fd00:1::/32', 192.168.1.0/24, 192.168.0.128/25]}
";
    let errs = errors(yaml);
    let o = find(&errs, ErrorKind::OverlappingZones, "zones[2].cidrs[0]");
    assert_eq!((o.line, o.column), (Some(5), Some(31)));
    assert!(o.message.contains("'a'"), "{}", o.message);
    find(&errs, ErrorKind::OverlappingZones, "zones[3].cidrs[0]");
    find(&errs, ErrorKind::OverlappingZones, "zones[3].cidrs[2]");
    assert_eq!(
        errs.iter()
            .filter(|e| e.kind == ErrorKind::OverlappingZones)
            .count(),
        3,
        "{errs:#?}"
    );
}

#[test]
fn unknown_references_and_group_cycles() {
    let yaml = format!(
        "{BASE}  loop1: [a, loop2]\n  loop2: [loop1]\n  bad: [nosuch]\nallow:\n  - {{from: nowhere, to: [a, ghost], services: [any]}}\n"
    );
    let errs = errors(&yaml);
    assert_eq!(
        find(&errs, ErrorKind::UnknownReference, "groups.bad[0]").line,
        Some(18)
    );
    let c = errs
        .iter()
        .find(|e| e.kind == ErrorKind::GroupCycle)
        .expect("cycle reported");
    assert!(
        c.message.contains("loop1 -> loop2 -> loop1"),
        "{}",
        c.message
    );
    assert_eq!(
        errs.iter()
            .filter(|e| e.kind == ErrorKind::GroupCycle)
            .count(),
        1
    );
    let f = find(&errs, ErrorKind::UnknownReference, "allow[0].from");
    assert_eq!((f.line, f.column), (Some(20), Some(6)));
    find(&errs, ErrorKind::UnknownReference, "allow[0].to[1]");
}

#[test]
fn expand_group_survives_cycles() {
    let mut cfg = parse(BASE).expect("valid");
    cfg.groups.insert("x".into(), vec!["y".into(), "a".into()]);
    cfg.groups.insert("y".into(), vec!["x".into(), "b".into()]);
    assert_eq!(cfg.expand_group("x"), vec![1, 2]);
}

#[test]
fn allow_entries_that_can_never_match() {
    let yaml = format!(
        "{BASE}allow:
  - {{from: a, to: a, services: [any]}}
  - {{from: internet, to: internet, services: [any]}}
  - {{from: a, to: b, services: []}}
  - {{from: a, src_hosts: [10.2.0.5], to: b, services: [tcp/1]}}
  - {{from: ab, to: b, dst_hosts: [10.1.0.5, 10.2.0.0/24], services: [tcp/1]}}
  - {{from: internet, src_hosts: [10.1.2.3], to: a, services: [tcp/1]}}
  - {{from: a, to: b}}
  - {{from: ab, to: internet, services: [tcp/80]}}
"
    );
    let errs = errors(&yaml);
    let same = find(&errs, ErrorKind::NeverMatches, "allow[0]");
    assert!(same.message.contains("same zone"), "{}", same.message);
    assert_eq!(same.line, Some(17));
    let ii = find(&errs, ErrorKind::NeverMatches, "allow[1]");
    assert!(ii.message.contains("internet to internet"));
    find(&errs, ErrorKind::NeverMatches, "allow[2].services");
    find(&errs, ErrorKind::NeverMatches, "allow[3].src_hosts[0]");
    let d = find(&errs, ErrorKind::NeverMatches, "allow[4].dst_hosts[0]");
    assert_eq!(d.line, Some(21));
    assert!(!errs.iter().any(|e| e.path == "allow[4].dst_hosts[1]"));
    find(&errs, ErrorKind::NeverMatches, "allow[5].src_hosts[0]");
    find(&errs, ErrorKind::MissingKey, "allow[6]");
    assert!(
        !errs.iter().any(|e| e.path.starts_with("allow[7]")),
        "{errs:#?}"
    );
}

#[test]
fn expired_allow_entries_are_errors() {
    let yaml = format!(
        "{BASE}allow:
  - from: a
    to: b
    services: [tcp/22]
    expires: 2026-01-31T18:00:00+08:00
    ticket: DH-2026-0007
  - {{from: a, to: b, services: [tcp/23], expires: '2027-12-31T23:59:59+08:00'}}
"
    );
    let errs = errors(&yaml);
    let e = find(&errs, ErrorKind::Expired, "allow[0].expires");
    assert_eq!(e.line, Some(20));
    assert!(e.message.contains("DH-2026-0007"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    // The same config is valid before the expiry.
    let early = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let cfg = Config::validate_at(&yaml, "t", Path::new("."), early).expect("valid before expiry");
    assert_eq!(cfg.allow[0].ticket.as_deref(), Some("DH-2026-0007"));
    assert!(cfg.allow[1].expires.is_some());
}

#[test]
fn inventory_problems() {
    let yaml = "\
name: t
zones:
  - {id: internet, default: true}
  - id: a
    level: 3
    cidrs: [10.1.0.0/16]
    assets: strict
    vlan: 10
    hosts:
      - {ip: 10.1.0.1, mac: '02:00:00:00:00:01'}
      - {ip: 10.1.0.2, mac: '02-00-00-00-00-01'}
      - {ip: 10.1.0.3}
      - {ip: 10.7.0.3, mac: '02:00:00:00:00:07'}
  - id: b
    level: 2
    cidrs: [10.2.0.0/16]
    vlans: [20, 10]
    hosts:
      - {ip: 10.1.0.1, mac: '02:00:00:00:00:01'}
";
    let errs = errors(yaml);
    assert_eq!(
        find(&errs, ErrorKind::DuplicateAddress, "zones[1].hosts[1].mac").line,
        Some(11)
    );
    assert_eq!(
        find(&errs, ErrorKind::MissingMac, "zones[1].hosts[2]").line,
        Some(12)
    );
    assert_eq!(
        find(&errs, ErrorKind::HostOutsideZone, "zones[1].hosts[3].ip").line,
        Some(13)
    );
    assert_eq!(
        find(&errs, ErrorKind::DuplicateVlan, "zones[2].vlans[1]").line,
        Some(17)
    );
    let ip = find(&errs, ErrorKind::DuplicateAddress, "zones[2].hosts[0].ip");
    assert!(ip.message.contains("zones[1].hosts[0]"));
    find(&errs, ErrorKind::HostOutsideZone, "zones[2].hosts[0].ip");
    // The same MAC in another zone is not a duplicate (only within a zone).
    assert!(!errs.iter().any(|e| e.path == "zones[2].hosts[0].mac"));
}

#[test]
fn indicator_problems() {
    let yaml = "\
name: t
indicators:
  domains:
    - {value: Evil.Example, category: malware/botnet}
    - {value: evil.example., category: malware/botnet}
    - {value: other.example, category: malware/nonsense}
    - {value: 'bad domain', category: malware/botnet}
  ips:
    - {value: 203.0.113.66, category: malware/botnet}
    - {value: 203.0.113.66/32, category: malware/botnet}
    - {value: 203.0.113.0/24, category: violation}
";
    let errs = errors(yaml);
    assert_eq!(
        find(
            &errs,
            ErrorKind::DuplicateIndicator,
            "indicators.domains[1].value"
        )
        .line,
        Some(5)
    );
    assert_eq!(
        find(
            &errs,
            ErrorKind::UnknownCategory,
            "indicators.domains[2].category"
        )
        .line,
        Some(6)
    );
    find(
        &errs,
        ErrorKind::InvalidValue,
        "indicators.domains[3].value",
    );
    find(
        &errs,
        ErrorKind::DuplicateIndicator,
        "indicators.ips[1].value",
    );
    find(
        &errs,
        ErrorKind::UnknownCategory,
        "indicators.ips[2].category",
    );
    let ok = parse(
        "name: t\nindicators:\n  domains: [{value: Evil.Example., category: malware/botnet}]\n  ips: [{value: '2001:db8::1', category: malware/botnet}]\n",
    )
    .expect("valid");
    assert_eq!(ok.indicators.domains[0].value, "evil.example");
    assert_eq!(ok.indicators.ips[0].value.prefix_len(), 128);
}

#[test]
fn many_errors_reported_together() {
    let yaml = "\
name: t
zones:
  - {id: internet, default: true}
  - {id: a, level: 9, cidrs: [10.0.0.0/8]}
  - {id: b, level: 1, cidrs: [10.1.0.0/16]}
groups:
  g: [a, zz]
allow:
  - {from: a, to: nowhere, services: [tcp/80]}
admins: [ops, ops]
";
    let errs = errors(yaml);
    find(&errs, ErrorKind::LevelOutOfRange, "zones[1].level");
    find(&errs, ErrorKind::OverlappingZones, "zones[2].cidrs[0]");
    find(&errs, ErrorKind::UnknownReference, "groups.g[1]");
    find(&errs, ErrorKind::UnknownReference, "allow[0].to");
    find(&errs, ErrorKind::InvalidValue, "admins[1]");
    assert_eq!(errs.len(), 5, "{errs:#?}");
    let all = parse(yaml).expect_err("invalid");
    let text = all.to_string();
    assert_eq!(text.lines().count(), 5);
    assert!(text.starts_with("test.yaml:4:"), "{text}");
}

#[test]
fn error_count_is_capped() {
    let mut yaml = String::from("name: t\nadmins:\n");
    for _ in 0..(MAX_ERRORS + 50) {
        yaml.push_str("  - [x]\n");
    }
    let errs = errors(&yaml);
    assert_eq!(errs.len(), MAX_ERRORS + 1);
    let last = errs.last().expect("nonempty");
    assert_eq!(last.kind, ErrorKind::TooManyErrors);
    assert!(last.message.contains("50 more"));
}

#[test]
fn reports_for_people_and_scripts() {
    let res = parse("name: t\nhome_nets: [10.0.0.0/33]\n");
    let report = check_report(&res);
    assert!(
        report.contains("test.yaml:2:13: home_nets[0]: malformed CIDR '10.0.0.0/33'"),
        "{report}"
    );
    assert!(report.contains("/ 网段格式错误"), "{report}");
    assert!(report.contains("1 error(s) / 共 1 处错误"), "{report}");
    let Err(errs) = &res else {
        panic!("expected errors")
    };
    let json = check_errors_json(errs);
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["file"], "test.yaml");
    assert_eq!(json[0]["line"], 2);
    assert_eq!(json[0]["column"], 13);
    assert_eq!(json[0]["path"], "home_nets[0]");
    assert!(json[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("malformed CIDR")));
    let ok = check_report(&parse(BASE));
    assert!(ok.contains("is valid") && ok.contains("配置有效"), "{ok}");
}

#[test]
fn load_reports_io_problems() {
    let err = Config::load(Path::new("/nonexistent/zoneguard.yaml")).expect_err("missing file");
    assert_eq!(err.errors[0].kind, ErrorKind::Io);
    assert_eq!(err.file, "/nonexistent/zoneguard.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, b"name: \xff\xfe\n").expect("write");
    let err = Config::load(&p).expect_err("not utf-8");
    assert!(err.errors[0].message.contains("offset 6"), "{err}");
    let p = dir.path().join("ok.yaml");
    std::fs::write(&p, "name: t\nrules: {directories: [r]}\n").expect("write");
    let cfg = Config::load(&p).expect("valid");
    assert_eq!(cfg.rules.directories, vec![dir.path().join("r")]);
}

#[test]
fn minimal_config_loads() {
    let cfg = Config::load_at(&repo_dir().join("config/minimal.yaml"), now()).expect("valid");
    assert_eq!(cfg.zones.len(), 3);
    assert_eq!(cfg.allow.len(), 2);
    assert_eq!(cfg.default_zone(), Some(0));
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(s).collect(),
        Value::Null => Vec::new(),
        other => vec![s(other)],
    }
}

/// config/dehong-egov.yaml expresses every zone, host, group, allow entry,
/// indicator and setting of the shared reference topology, with the same
/// values.
#[test]
fn dehong_config_expresses_the_whole_topology() {
    let path = repo_dir().join("config/dehong-egov.yaml");
    let cfg = Config::load_at(&path, now()).unwrap_or_else(|e| panic!("{e}"));
    let topo_text =
        std::fs::read_to_string("/work/shared/topology/dehong-egov.yaml").or_else(|_| {
            std::fs::read_to_string(repo_dir().join("../shared/topology/dehong-egov.yaml"))
        });
    let Ok(topo_text) = topo_text else {
        eprintln!("shared topology not found; skipping the comparison");
        return;
    };
    let topo: Value = serde_yaml_ng::from_str(&topo_text).expect("topology parses");

    assert_eq!(cfg.name, s(&topo["name"]));
    assert_eq!(cfg.timezone.name(), s(&topo["timezone"]));
    let home: Vec<String> = cfg.home_nets.iter().map(|n| n.to_string()).collect();
    assert_eq!(home, list(&topo["home_nets"]));
    assert_eq!(
        cfg.vars.address_groups["HOME_NET"],
        "[10.0.0.0/8,172.16.0.0/12]"
    );
    assert_eq!(cfg.vars.address_groups["EXTERNAL_NET"], "!$HOME_NET");
    assert_eq!(
        cfg.rules.directories,
        vec![path.parent().unwrap_or(Path::new(".")).join("../rules")]
    );

    let zones = topo["zones"].as_sequence().expect("zones");
    assert_eq!(cfg.zones.len(), zones.len());
    for tz in zones {
        let id = s(&tz["id"]);
        let z = &cfg.zones[cfg
            .zone_index(&id)
            .unwrap_or_else(|| panic!("zone {id} missing"))];
        assert_eq!(z.name_zh.as_deref(), tz["name_zh"].as_str(), "{id}");
        assert!(
            z.name_en.as_deref().is_some_and(|n| !n.is_empty()),
            "{id} needs name_en"
        );
        assert_eq!(
            u64::from(z.level),
            tz["level"].as_u64().unwrap_or(99),
            "{id}"
        );
        assert_eq!(z.default, tz["default"].as_bool().unwrap_or(false), "{id}");
        assert_eq!(
            z.isolated,
            tz["isolated"].as_bool().unwrap_or(false),
            "{id}"
        );
        let cidrs: Vec<String> = z.cidrs.iter().map(|c| c.to_string()).collect();
        assert_eq!(cidrs, list(&tz["cidrs"]), "{id}");
        assert_eq!(z.unit.as_deref(), tz["unit"].as_str(), "{id}");
        assert_eq!(z.contact.as_deref(), tz["contact"].as_str(), "{id}");
        let assets = match tz["assets"].as_str() {
            Some("strict") => AssetsMode::Strict,
            _ => AssetsMode::Open,
        };
        assert_eq!(z.assets, assets, "{id}");
        let vlans: Vec<u16> = tz["vlan"]
            .as_u64()
            .and_then(|v| u16::try_from(v).ok())
            .into_iter()
            .collect();
        assert_eq!(z.vlans, vlans, "{id}");
        let hosts = tz["hosts"].as_sequence().map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(z.hosts.len(), hosts.len(), "{id}");
        for (h, th) in z.hosts.iter().zip(hosts) {
            assert_eq!(h.ip.to_string(), s(&th["ip"]), "{id}");
            assert_eq!(h.name.as_deref(), th["name"].as_str(), "{id} {}", h.ip);
            let mac = th["mac"]
                .as_str()
                .map(|m| super::build::parse_mac(m).expect("topology MAC"));
            assert_eq!(h.mac, mac, "{id} {}", h.ip);
            assert_eq!(
                h.gateway,
                th["gateway"].as_bool().unwrap_or(false),
                "{id} {}",
                h.ip
            );
            // The topology writes some roles unquoted with a comma inside a
            // flow mapping, which YAML cuts at the comma; ours are quoted
            // and complete, so compare by prefix.
            let role = s(&th["role"]);
            assert!(
                h.role.as_deref().is_some_and(|r| r.starts_with(&role)),
                "{id} {}: role {:?} vs {role:?}",
                h.ip,
                h.role
            );
        }
    }

    let groups = topo["groups"].as_mapping().expect("groups");
    assert_eq!(cfg.groups.len(), groups.len());
    for (k, v) in groups {
        assert_eq!(cfg.groups.get(&s(k)), Some(&list(v)), "group {}", s(k));
    }

    let allow = topo["allow"].as_sequence().expect("allow");
    // Every topology entry, in order, then our one temporary exception.
    assert_eq!(cfg.allow.len(), allow.len() + 1);
    for (i, (a, ta)) in cfg.allow.iter().zip(allow).enumerate() {
        assert_eq!(a.from, list(&ta["from"]), "allow[{i}]");
        assert_eq!(a.to, list(&ta["to"]), "allow[{i}]");
        let nets = |v: &Value| -> Vec<String> {
            list(v)
                .iter()
                .map(|x| {
                    if x.contains('/') {
                        x.clone()
                    } else {
                        format!("{x}/32")
                    }
                })
                .collect()
        };
        let src: Vec<String> = a.src_hosts.iter().map(|n| n.to_string()).collect();
        let dst: Vec<String> = a.dst_hosts.iter().map(|n| n.to_string()).collect();
        assert_eq!(src, nets(&ta["src_hosts"]), "allow[{i}]");
        assert_eq!(dst, nets(&ta["dst_hosts"]), "allow[{i}]");
        let svcs: Vec<String> = a.services.iter().map(|x| x.to_string()).collect();
        assert_eq!(svcs, list(&ta["services"]), "allow[{i}]");
        if let Some(why) = ta["why"].as_str() {
            assert_eq!(a.why.as_deref(), Some(why), "allow[{i}]");
        }
        assert!(a.expires.is_none(), "allow[{i}]");
    }
    let temp = cfg.allow.last().expect("temporary exception");
    assert!(temp.ticket.is_some());
    assert_eq!(
        temp.expires.map(|t| t.to_rfc3339()),
        Some("2027-12-31T23:59:59+08:00".to_string())
    );

    assert_eq!(
        cfg.cleartext_banned_min_level.map(u64::from),
        topo["cleartext_banned_min_level"].as_u64()
    );
    let clear: Vec<String> = cfg
        .cleartext_services
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(clear, list(&topo["cleartext_services"]));
    assert_eq!(
        cfg.cleartext_http_basic_auth,
        topo["cleartext_http_basic_auth"].as_bool().unwrap_or(false)
    );
    let doms = topo["indicators"]["domains"]
        .as_sequence()
        .expect("domains");
    assert_eq!(cfg.indicators.domains.len(), doms.len());
    for (d, td) in cfg.indicators.domains.iter().zip(doms) {
        assert_eq!(d.value, s(&td["value"]));
        assert_eq!(d.category, s(&td["category"]));
    }
    let ips = topo["indicators"]["ips"].as_sequence().expect("ips");
    assert_eq!(cfg.indicators.ips.len(), ips.len());
    for (d, td) in cfg.indicators.ips.iter().zip(ips) {
        assert_eq!(d.value.addr().to_string(), s(&td["value"]));
        assert_eq!(d.category, s(&td["category"]));
    }
    assert_eq!(cfg.admins, list(&topo["admins"]));

    // The engine sections show the defaults.
    assert_eq!(cfg.flow, FlowConfig::default());
    assert_eq!(cfg.defrag, DefragSettings::default());
    assert_eq!(cfg.policy, PolicySettings::default());
    assert_eq!(cfg.outputs, Outputs::default());
}

/// The same file with the clock past the temporary exception's expiry
/// reports exactly that.
#[test]
fn dehong_exception_expires() {
    let later = chrono::Utc
        .with_ymd_and_hms(2028, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let err =
        Config::load_at(&repo_dir().join("config/dehong-egov.yaml"), later).expect_err("expired");
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].kind, ErrorKind::Expired);
    assert_eq!(err.errors[0].path, "allow[17].expires");
    assert!(err.errors[0].line.is_some());
}

/// The shipped configs index completely: every error path we could raise
/// on their zones and allow entries has a line.
#[test]
fn dehong_line_index_covers_the_file() {
    let text = std::fs::read_to_string(repo_dir().join("config/dehong-egov.yaml")).expect("read");
    let idx = LineIndex::build(&text);
    for p in [
        "zones[12].cidrs[0]",
        "zones[11].hosts[4].mac",
        "allow[16].src_hosts[0]",
        "allow[17].expires",
        "indicators.ips[1].category",
        "flow.timeouts.icmp.emergency_closed",
        "vars.address-groups.HTTP_SERVERS",
        "groups.managed[4]",
        "policy.enabled.cleartext_credentials",
        "outputs.eve.types[7]",
    ] {
        assert!(idx.exact(p).is_some(), "{p} not indexed");
    }
    // And the positions are right: the line holds the key/value.
    let (line, col) = idx.exact("zones[12].cidrs[0]").expect("indexed");
    let l = text.lines().nth(line - 1).expect("line");
    assert!(
        l.chars()
            .skip(col - 1)
            .collect::<String>()
            .starts_with("172.16.0.0/16"),
        "{l}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text never panics the loader or the renderings (the
    /// path of the `config_load` fuzz target).
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let result = Config::from_yaml_str(&text, "fuzz.yaml", Path::new("/etc/zoneguard"));
        let _ = check_report(&result);
        if let Err(errs) = &result {
            prop_assert!(!errs.errors.is_empty());
            prop_assert_eq!(check_errors_json(errs).len(), errs.errors.len());
        }
    }

    /// YAML-ish text (the characters that matter to YAML) never panics,
    /// and every error carries a message.
    #[test]
    fn yamlish_text_never_panics(text in "[a-z0-9_ :\\-\\[\\]{},#'\"|>&*!/.\n]{0,400}") {
        if let Err(e) = parse(&text) {
            prop_assert!(!e.errors.is_empty());
            prop_assert!(e.errors.iter().all(|x| !x.message.is_empty()));
        }
    }

    /// Mutations of a valid config never panic.
    #[test]
    fn mutated_configs_never_panic(pos in 0usize..600, byte in proptest::sample::select(vec![b' ', b':', b'-', b'[', b']', b'{', b'}', b'\n', b'#', b'x', b'1', b'/'])) {
        let mut bytes = BASE.as_bytes().to_vec();
        if let Some(b) = bytes.get_mut(pos % BASE.len()) {
            *b = byte;
        }
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = parse(&text);
        }
    }
}

#[test]
fn alias_bombs_and_deep_nesting_are_refused() {
    let mut bomb = String::from("name: t\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let errs = errors(&bomb);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(!errs.is_empty());
    let deep = format!(
        "name: t\nzones: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let errs = errors(&deep);
    assert_eq!(errs[0].kind, ErrorKind::Syntax, "{errs:#?}");
}

#[test]
fn large_configs_validate_quickly() {
    let mut yaml = String::from("name: big\nzones:\n  - {id: internet, default: true}\n");
    for i in 0..2000u32 {
        yaml.push_str(&format!(
            "  - {{id: z{i}, level: 2, cidrs: [10.{}.{}.0/24], hosts: [{{ip: 10.{}.{}.1}}]}}\n",
            i / 256,
            i % 256,
            i / 256,
            i % 256
        ));
    }
    yaml.push_str("groups:\n  all: [");
    yaml.push_str(
        &(0..2000)
            .map(|i| format!("z{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    yaml.push_str("]\nallow:\n");
    for i in 0..2000u32 {
        yaml.push_str(&format!(
            "  - {{from: all, src_hosts: [10.{}.{}.7], to: internet, services: [tcp/443]}}\n",
            i / 256,
            i % 256
        ));
    }
    let started = std::time::Instant::now();
    let cfg = parse(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.zones.len(), 2001);
    assert_eq!(cfg.expand_group("all").len(), 2000);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn list_caps_are_reported() {
    let mut yaml = String::from(
        "name: t\nzones:\n  - {id: internet, default: true}\n  - id: a\n    level: 1\n    cidrs: [",
    );
    yaml.push_str(
        &(0..300)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect::<Vec<_>>()
            .join(", "),
    );
    yaml.push_str("]\n");
    let errs = errors(&yaml);
    let e = find(&errs, ErrorKind::InvalidValue, "zones[1].cidrs");
    assert!(e.message.contains("at most 256"), "{}", e.message);
}

#[test]
fn allow_entries_into_isolated_zones_are_errors() {
    let yaml = BASE.replace("  - id: b\n    level: 3\n", "  - id: b\n    level: 3\n    isolated: true\n")
        + "allow:\n  - {from: a, to: b, services: [any]}\n  - {from: ab, to: internet, services: [any]}\n";
    let errs = errors(&yaml);
    let e = find(&errs, ErrorKind::NeverMatches, "allow[0]");
    assert!(e.message.contains("isolated"), "{}", e.message);
    assert_eq!(e.line, Some(18));
    // A group with a non-isolated zone still allows something.
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn variable_problems() {
    let yaml = "\
name: t
vars:
  address_groups:
    WEB: '[$HOME_NET, $NOPE'
  port-groups:
    'BAD NAME': 80
    X_PORTS: '[$HTTP_PORTS, $HOME_NET]'
    EMPTY: ''
";
    let errs = errors(yaml);
    let unknown = find(
        &errs,
        ErrorKind::UnknownReference,
        "vars.address_groups.WEB",
    );
    assert_eq!(unknown.line, Some(4));
    assert!(unknown.message.contains("$NOPE"));
    let b = find(&errs, ErrorKind::InvalidValue, "vars.address_groups.WEB");
    assert!(b.message.contains("unbalanced"));
    find(&errs, ErrorKind::InvalidValue, "vars.port-groups.BAD NAME");
    let x = find(
        &errs,
        ErrorKind::UnknownReference,
        "vars.port-groups.X_PORTS",
    );
    assert!(x.message.contains("$HOME_NET is not a defined port group"));
    find(&errs, ErrorKind::InvalidValue, "vars.port-groups.EMPTY");
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn zones_need_cidrs_but_malformed_ones_are_not_double_counted() {
    let errs = errors("name: t\nzones:\n  - {id: internet, default: true}\n  - {id: a, level: 1}\n  - {id: b, level: 1, cidrs: []}\n  - {id: c, level: 1, cidrs: [10.0.0.1/8]}\n");
    assert_eq!(find(&errs, ErrorKind::MissingKey, "zones[1]").line, Some(4));
    find(&errs, ErrorKind::MissingKey, "zones[2]");
    find(&errs, ErrorKind::MalformedCidr, "zones[3].cidrs[0]");
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn crlf_and_bom_configs_load_with_lines() {
    let text = std::fs::read_to_string(repo_dir().join("config/dehong-egov.yaml")).expect("read");
    let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
    let plain = Config::validate_at(&text, "a", Path::new("config"), now()).expect("valid");
    let cr = Config::validate_at(&crlf, "a", Path::new("config"), now())
        .expect("valid with CRLF and BOM");
    assert_eq!(plain, cr);
    let bad = crlf.replace("cidrs: [10.42.0.0/24]", "cidrs: [10.42.0.0/99]");
    let errs = Config::validate_at(&bad, "a", Path::new("config"), now()).expect_err("invalid");
    let e = find(&errs.errors, ErrorKind::MalformedCidr, "zones[10].cidrs[0]");
    let line = text
        .lines()
        .position(|l| l.contains("10.42.0.0/24"))
        .map(|i| i + 1);
    assert_eq!(e.line, line);
}
