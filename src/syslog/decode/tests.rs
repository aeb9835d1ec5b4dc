use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::syslog::conformance_tests::corpus_dir;
use crate::syslog::{parse, ParseOptions};

fn opts() -> ParseOptions {
    ParseOptions {
        strict: false,
        tz: Tz::Asia__Shanghai,
        received: Utc.with_ymd_and_hms(2026, 12, 20, 0, 0, 0).unwrap(),
        sender: None,
        ..Default::default()
    }
}

fn dec(line: &str) -> Option<LogEvent> {
    decode(&parse(line.as_bytes(), &opts()).ok()?)
}

#[test]
fn sshd_lines() {
    let e = dec("Dec 10 09:32:20 LabSZ sshd[24680]: Failed password for invalid user  0101 from 103.99.0.122 port 52910 ssh2").unwrap();
    assert_eq!(e.kind, LogKind::SshFailed);
    assert!(e.invalid_user);
    assert_eq!(e.user.as_deref(), Some(" 0101"));
    assert_eq!(e.src_ip, Some("103.99.0.122".parse().unwrap()));
    assert_eq!(e.src_port, Some(52910));
    assert_eq!(e.field("SourceIp").as_deref(), Some("103.99.0.122"));
    assert_eq!(e.field("method").as_deref(), Some("password"));

    let e = dec("Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2: RSA 39:33").unwrap();
    assert_eq!(
        (e.kind, e.user.as_deref(), e.method.as_deref(), e.src_port),
        (
            LogKind::SshAccepted,
            Some("vagrant"),
            Some("publickey"),
            Some(63673)
        )
    );

    let e = dec("Dec 10 07:28:03 LabSZ sshd[24245]: message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]").unwrap();
    assert_eq!((e.kind, e.count), (LogKind::SshFailed, Some(5)));

    let e = dec("Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!").unwrap();
    assert_eq!(
        (e.kind, e.src_ip),
        (
            LogKind::SshBreakInAttempt,
            Some("173.234.31.186".parse().unwrap())
        )
    );

    let e = dec("Dec 10 06:55:48 LabSZ sshd[24200]: Connection closed by 173.234.31.186 [preauth]")
        .unwrap();
    assert_eq!(e.kind, LogKind::SshConnectionClosed);
    let e = dec("Dec 10 07:02:47 LabSZ sshd[24203]: Disconnecting: Too many authentication failures for admin [preauth]").unwrap();
    assert_eq!(
        (e.kind, e.user.as_deref()),
        (LogKind::SshMaxAuthAttempts, Some("admin"))
    );
    let e = dec("Dec 10 06:55:48 LabSZ sshd[24200]: Received disconnect from 173.234.31.186: 11: Bye Bye [preauth]").unwrap();
    assert_eq!((e.kind, e.src_ip.is_some()), (LogKind::SshDisconnect, true));
}

#[test]
fn pam_sudo_su() {
    let e = dec("Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn  user=root").unwrap();
    assert_eq!(e.kind, LogKind::PamAuthFailure);
    assert_eq!(e.user.as_deref(), Some("root"));
    assert_eq!(
        e.rhost.as_deref(),
        Some("ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn")
    );
    let e = dec("Feb 22 16:45:26 slave22 sshd[2738]: PAM 4 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=202.109.143.106  user=root").unwrap();
    assert_eq!((e.kind, e.count), (LogKind::PamAuthFailure, Some(4)));

    let e = dec("Feb 24 00:13:02 precise32 sudo:      tsg : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls").unwrap();
    assert_eq!(e.kind, LogKind::SudoNotInSudoers);
    assert_eq!(
        (
            e.user.as_deref(),
            e.target_user.as_deref(),
            e.command.as_deref()
        ),
        (Some("tsg"), Some("root"), Some("/bin/ls"))
    );
    let e = dec("Feb 23 00:08:48 localhost sudo: vagrant : TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/cat /var/log/secure").unwrap();
    assert_eq!(e.kind, LogKind::SudoCommand);
    assert_eq!(
        e.field("CommandLine").as_deref(),
        Some("/bin/cat /var/log/secure")
    );
    assert_eq!(e.field("Image").as_deref(), Some("/bin/cat"));
    assert_eq!(e.tty.as_deref(), Some("pts/1"));
    let e = dec("Feb  9 21:19:41 precise32 sudo: tsg : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls").unwrap();
    assert_eq!((e.kind, e.count), (LogKind::SudoAuthFailure, Some(3)));
    let e = dec("Mar 15 10:30:04 webserver sudo: pam_unix(sudo:auth): authentication failure; logname=jsmith uid=1001 euid=0 tty=/dev/pts/0 ruser=jsmith rhost=  user=jsmith").unwrap();
    assert_eq!(
        (e.kind, e.user.as_deref()),
        (LogKind::SudoAuthFailure, Some("jsmith"))
    );

    let e = dec("Feb  9 21:19:41 precise32 su[1]: Successful su for tsg by root").unwrap();
    assert_eq!(
        (e.kind, e.user.as_deref(), e.target_user.as_deref()),
        (LogKind::SuSuccess, Some("root"), Some("tsg"))
    );
    let e = dec("Feb  9 21:19:41 precise32 su[1]: - /dev/pts/1 bob:root").unwrap();
    assert_eq!(e.kind, LogKind::SuFailure);
}

#[test]
fn accounts_systemd_and_clearing() {
    let e = dec("2026-05-17T18:02:03.000000+00:00 host12345 gpasswd[3456789]: user alice added by root to group sudo").unwrap();
    assert_eq!(
        (
            e.kind,
            e.target_user.as_deref(),
            e.user.as_deref(),
            e.group.as_deref()
        ),
        (
            LogKind::UserAddedToGroup,
            Some("alice"),
            Some("root"),
            Some("sudo")
        )
    );
    let e = dec("2026-05-17T18:04:00.000000+00:00 host12345 usermod[5678901]: add 'testuser' to group 'wheel'").unwrap();
    assert_eq!(
        (e.kind, e.group.as_deref()),
        (LogKind::UserAddedToGroup, Some("wheel"))
    );
    assert!(dec("2026-05-17T18:04:01.000000+00:00 host12345 usermod[5678902]: add 'testuser' to shadow group 'shadow'").is_none());
    let e = dec("Feb 22 11:47:05 localhost useradd[6995]: new user: name=apache, UID=48, GID=48, home=/usr/share/httpd, shell=/sbin/nologin").unwrap();
    assert_eq!(
        (e.kind, e.target_user.as_deref()),
        (LogKind::UserAdded, Some("apache"))
    );

    let e = dec("<30>1 2026-11-27T12:00:00+08:00 web1 systemd 1 - - nginx.service: Scheduled restart job, restart counter is at 5.").unwrap();
    assert_eq!(
        (e.kind, e.unit.as_deref(), e.count),
        (
            LogKind::ServiceRestartScheduled,
            Some("nginx.service"),
            Some(5)
        )
    );
    let e = dec("Nov 27 12:00:00 web1 systemd[1]: nginx.service: Main process exited, code=exited, status=1/FAILURE").unwrap();
    assert_eq!(e.kind, LogKind::ServiceExited);
    let e = dec("Nov 27 12:00:00 web1 systemd[1]: nginx.service: Failed with result 'exit-code'.")
        .unwrap();
    assert_eq!(
        (e.kind, e.detail.as_deref()),
        (LogKind::ServiceFailed, Some("exit-code"))
    );
    let e =
        dec("Nov 27 12:00:00 web1 systemd[1]: nginx.service: Start request repeated too quickly.")
            .unwrap();
    assert_eq!(e.kind, LogKind::ServiceStartLimit);

    let e = dec("Nov 27 12:00:00 web1 systemd-journald[300]: Deleted archived journal /var/log/journal/x/system@1.journal (8.0M).").unwrap();
    assert_eq!(e.kind, LogKind::LogCleared);
    let e = dec("Nov 27 12:00:00 web1 rsyslogd: [origin software=\"rsyslogd\" swVersion=\"8.32.0\" x-pid=\"1\"] rsyslogd was HUPed").unwrap();
    assert_eq!(e.kind, LogKind::LogServiceRestart);
    let e = dec("Nov 27 12:00:00 web1 bash[991]: user=root pwd=/root cmd=history -c").unwrap();
    assert_eq!(
        (e.kind, e.command.as_deref()),
        (LogKind::LogCleared, Some("history -c"))
    );
    let e = dec("Nov 27 12:00:00 web1 bash[991]: root: > /var/log/secure").unwrap();
    assert_eq!(e.kind, LogKind::LogCleared);
    let e = dec("Nov 27 12:00:00 web1 audispd: type=CONFIG_CHANGE msg=audit(1610903553.686:584): auid=1000 ses=3 op=remove_rule key=\"x\" list=4 res=1").unwrap();
    assert_eq!(e.kind, LogKind::AuditRulesRemoved);
}

#[test]
fn shell_command_audit_lines() {
    // the MLPS hardening's PROMPT_COMMAND logger line
    let e = dec("<181>1 2026-11-02T09:28:20+08:00 dc-app01 root - - - [euid=root]:root pts/2 2026-11-02 09:28 (10.50.0.9):[/root]history -c").unwrap();
    assert_eq!(e.kind, LogKind::LogCleared);
    assert_eq!(e.src_ip, Some("10.50.0.9".parse().unwrap()));
    assert_eq!(e.user.as_deref(), Some("root"));
    assert_eq!(e.target_user, None, "euid is the login user");
    assert_eq!(e.tty.as_deref(), Some("pts/2"));
    assert_eq!(e.pwd.as_deref(), Some("/root"));
    assert_eq!(e.command.as_deref(), Some("history -c"));
    let e = dec("<181>1 2026-11-02T09:55:09+08:00 em-web01 root - - - [euid=root]:ops pts/1 2026-11-02 09:55 (117.50.3.88:S.0):[/var/log]auditctl -D").unwrap();
    assert_eq!(e.kind, LogKind::AuditRulesRemoved);
    assert_eq!(e.src_ip, Some("117.50.3.88".parse().unwrap()));
    assert_eq!(
        (e.user.as_deref(), e.target_user.as_deref()),
        (Some("ops"), Some("root"))
    );
    assert_eq!(e.command.as_deref(), Some("auditctl -D"));
    // a console login has no remote address; a broken line keeps its kind
    let e =
        dec("Nov 27 12:00:00 web1 root: [euid=root]:root tty1 2026-11-02 09:28:[/root]history -c")
            .unwrap();
    assert_eq!((e.kind, e.src_ip), (LogKind::LogCleared, None));
    assert_eq!(e.tty.as_deref(), Some("tty1"));
    let e = dec("Nov 27 12:00:00 web1 root: [euid=root history -c").unwrap();
    assert_eq!((e.kind, e.src_ip), (LogKind::LogCleared, None));
}

#[test]
fn firewalls() {
    let e = dec("Oct 10 2018 12:34:56 localhost CiscoASA[999]: %ASA-4-106023: Deny tcp src outside:100.66.19.254/80 dst inside:172.31.98.44/8277 by access-group \"inbound\" [0x0, 0x0]").unwrap();
    assert_eq!(e.kind, LogKind::FirewallDeny);
    assert_eq!(
        (e.src_ip, e.src_port),
        (Some("100.66.19.254".parse().unwrap()), Some(80))
    );
    assert_eq!(
        (e.dst_ip, e.dst_port),
        (Some("172.31.98.44".parse().unwrap()), Some(8277))
    );
    assert_eq!(
        (e.proto.as_deref(), e.rule.as_deref()),
        (Some("tcp"), Some("inbound"))
    );
    let e = dec("<166>%ASA-4-106100: access-list acl_in denied tcp inside/10.1.1.5(3344) -> outside/192.0.2.9(443) hit-cnt 1 first hit [0x1, 0x0]").unwrap();
    assert_eq!(
        (e.kind, e.src_port, e.dst_port, e.rule.as_deref()),
        (LogKind::FirewallDeny, Some(3344), Some(443), Some("acl_in"))
    );

    let e = dec("<134>Jul  3 19:10:30 filterlog[72237]: 146,,,1535324496,igb1.12,match,block,in,4,0x0,,63,12617,0,DF,6,tcp,60,10.170.12.50,1.1.1.1,49724,853,0,S,1891286705,,64240,,mss").unwrap();
    assert_eq!(
        (e.kind, e.dst_port, e.proto.as_deref()),
        (LogKind::FirewallDeny, Some(853), Some("tcp"))
    );

    let e = dec("<161>Oct 10 07:25:12 Hostname kernel: [wan-lan-default-D]IN=eth0 OUT= MAC=90:10 SRC=67.43.156.15 DST=10.4.0.5 LEN=52 PROTO=TCP SPT=38842 DPT=443 WINDOW=2853").unwrap();
    assert_eq!(
        (
            e.kind,
            e.rule.as_deref(),
            e.dst_port,
            e.out_interface.as_deref()
        ),
        (
            LogKind::FirewallDeny,
            Some("wan-lan-default-D"),
            Some(443),
            None
        )
    );

    let e = dec("<189>date=2020-04-23 time=01:16:08 devname=\"fw\" devid=\"x\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" srcip=10.10.10.10 srcport=60899 dstip=10.20.30.40 dstport=443 proto=6 action=\"deny\" policyid=0").unwrap();
    assert_eq!(
        (e.kind, e.dst_port, e.proto.as_deref()),
        (LogKind::FirewallDeny, Some(443), Some("tcp"))
    );

    let e = dec("<188>Nov 27 2026 10:00:00 USG6000 %%01POLICY/6/POLICYDENY(l):vsys=public, protocol=6, source-ip=10.8.1.20, source-port=51515, destination-ip=10.9.0.5, destination-port=3389, time=2026/11/27 10:00:00, source-zone=trust, destination-zone=untrust, rule-name=deny_rdp.").unwrap();
    assert_eq!(e.kind, LogKind::FirewallDeny);
    assert_eq!(
        (e.src_ip, e.dst_port, e.proto.as_deref(), e.rule.as_deref()),
        (
            Some("10.8.1.20".parse().unwrap()),
            Some(3389),
            Some("tcp"),
            Some("deny_rdp")
        )
    );
}

fn corpus_events(rel: &str) -> Option<(usize, Vec<LogEvent>)> {
    let path = corpus_dir()?.join(rel);
    let data = std::fs::read(path).ok()?;
    let mut lines = 0;
    let mut out = Vec::new();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        if let Some(e) = parse(line, &opts()).ok().as_ref().and_then(decode) {
            out.push(e);
        }
    }
    Some((lines, out))
}

fn kinds(events: &[LogEvent]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(e.kind.as_str()).or_insert(0) += 1;
    }
    m
}

#[test]
fn openssh_2k_ground_truth() {
    let Some((lines, events)) = corpus_events("loghub/OpenSSH/OpenSSH_2k.log") else {
        eprintln!("corpus not found; set ZONEGUARD_CORPUS");
        return;
    };
    assert_eq!(lines, 2000);
    let k = kinds(&events);
    eprintln!("{k:?}");
    let failed: Vec<&LogEvent> = events
        .iter()
        .filter(|e| e.kind == LogKind::SshFailed && e.count.is_none())
        .collect();
    let password: Vec<&&LogEvent> = failed
        .iter()
        .filter(|e| e.method.as_deref() == Some("password"))
        .collect();
    assert_eq!(password.len(), 518);
    assert_eq!(password.iter().filter(|e| e.invalid_user).count(), 135);
    assert_eq!(failed.len() - password.len(), 4, "Failed none");
    let repeats: u32 = events
        .iter()
        .filter(|e| e.kind == LogKind::SshFailed)
        .filter_map(|e| e.count)
        .sum();
    assert_eq!(repeats, 10);
    let mut per_src: BTreeMap<String, usize> = BTreeMap::new();
    for e in &password {
        *per_src.entry(e.src_ip.unwrap().to_string()).or_insert(0) += 1;
    }
    assert_eq!(per_src.len(), 23);
    for (ip, n) in [
        ("183.62.140.253", 286),
        ("187.141.143.180", 80),
        ("103.99.0.122", 46),
        ("112.95.230.3", 26),
        ("5.188.10.180", 18),
        ("185.190.58.151", 17),
        ("123.235.32.19", 7),
        ("119.4.203.64", 6),
        ("52.80.34.196", 5),
        ("60.2.12.12", 5),
        ("88.147.143.242", 1),
    ] {
        assert_eq!(per_src.get(ip), Some(&n), "{ip}");
    }
    assert_eq!(k.get("ssh_invalid_user"), Some(&113));
    let pam = events
        .iter()
        .filter(|e| e.kind == LogKind::PamAuthFailure && e.count.is_none())
        .count();
    assert_eq!(pam, 494);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == LogKind::PamAuthFailure && e.count.is_some())
            .count(),
        10
    );
    assert_eq!(k.get("ssh_break_in_attempt"), Some(&85));
    assert_eq!(k.get("ssh_max_auth_attempts"), Some(&3));
    assert_eq!(k.get("ssh_accepted"), Some(&1));
    assert_eq!(k.get("ssh_no_identification"), Some(&10));
    assert_eq!(k.get("ssh_connection_closed"), Some(&34));
    assert_eq!(k.get("session_opened"), Some(&1));
}

#[test]
fn auth_and_device_corpora() {
    let Some((_, ubuntu)) = corpus_events("auth/integrations_auth_ubuntu1204.log") else {
        eprintln!("corpus not found; set ZONEGUARD_CORPUS");
        return;
    };
    let k = kinds(&ubuntu);
    eprintln!("ubuntu1204: {k:?}");
    assert!(k.get("sudo_command").copied().unwrap_or(0) >= 10);
    for kind in [
        "sudo_auth_failure",
        "sudo_not_in_sudoers",
        "su_success",
        "password_changed",
        "user_added",
        "group_added",
        "account_expiry_changed",
        "ssh_accepted",
    ] {
        assert!(k.contains_key(kind), "ubuntu1204 lacks {kind}");
    }
    let (_, acct) = corpus_events("auth/integrations_account_and_pam.log").unwrap();
    let k = kinds(&acct);
    eprintln!("account_and_pam: {k:?}");
    assert_eq!(k.get("user_added_to_group"), Some(&2));
    assert_eq!(k.get("user_removed_from_group"), Some(&2));
    assert_eq!(k.get("account_locked"), Some(&2));
    assert_eq!(k.get("user_deleted"), Some(&2));
    assert_eq!(k.get("user_add_failed"), Some(&1));
    let (_, beats) = corpus_events("auth/beats_system_auth_test.log").unwrap();
    eprintln!("beats: {:?}", kinds(&beats));
    assert_eq!(beats.len(), 10);
    let (_, rhel) = corpus_events("auth/beats_secure_rhel7_excerpt.log").unwrap();
    let k = kinds(&rhel);
    eprintln!("rhel7: {k:?}");
    assert!(k.get("ssh_failed").copied().unwrap_or(0) >= 10);

    let (n, asa) = corpus_events("devices/cisco_asa/cisco_asa_excerpt.log").unwrap();
    assert_eq!(n, 22);
    assert_eq!(kinds(&asa).get("firewall_deny"), Some(&6));
    let (n, pf) = corpus_events("devices/pfsense/pfsense_filterlog.log").unwrap();
    assert_eq!(pf.len(), n);
    assert!(pf.iter().all(|e| e.src_ip.is_some() && e.dst_ip.is_some()));
    let (n, ipt) = corpus_events("devices/iptables/iptables_kernel.log").unwrap();
    eprintln!("iptables: {} of {n}: {:?}", ipt.len(), kinds(&ipt));
    assert_eq!(ipt.len(), n);
    assert!(ipt.iter().all(|e| e.src_ip.is_some() && e.dst_ip.is_some()));
    let (n, forti) = corpus_events("devices/fortigate/fortigate_excerpt.log").unwrap();
    eprintln!("fortigate: {} of {n}: {:?}", forti.len(), kinds(&forti));
    assert!(kinds(&forti).contains_key("firewall_deny"));
}

proptest::proptest! {
    /// Decoders never panic on hostile text under any known program name.
    #[test]
    fn decoders_never_panic(
        prog in proptest::sample::select(vec!["sshd", "sudo", "su", "useradd", "usermod", "gpasswd",
            "userdel", "passwd", "chage", "systemd", "kernel", "rsyslogd", "systemd-journald",
            "unix_chkpwd", "filterlog", "%ASA-4-106023", "bash", "audispd"]),
        words in proptest::collection::vec(proptest::sample::select(vec![
            "Failed", "Accepted", "password", "for", "invalid", "user", "from", "port", "1.2.3.4",
            "::1", "[", "]", "(", ")", ":", " : ", ";", " ; ", "=", "'", "\"", "PAM", "3", "more",
            "authentication", "failure", "rhost=", "user=", "TTY=", "COMMAND=", "USER=", "IN=",
            "SRC=", "DST=", "SPT=", "DPT=", "PROTO=", "Deny", "denied", "tcp", "outside:1.2.3.4/80",
            "inside/10.0.0.1(22)", "message", "repeated", "times:", "[ ", "add", "to", "group",
            "Main process exited,", "Scheduled restart job", "%%01POLICY/6/POLICYDENY(l):",
            "source-ip=", "date=", "devid=", "logid=", "action=deny", "srcip=", ",", "4", "6",
            "block", "history -c", "> /var/log/x", "op=remove_rule", "é", "\u{feff}",
        ]), 0..24),
    ) {
        let line = format!("<38>Nov 27 12:00:00 host {prog}[1]: {}", words.concat());
        if let Ok(m) = parse(line.as_bytes(), &opts()) {
            if let Some(e) = decode(&m) {
                for f in ["user", "SourceIp", "DestinationPort", "CommandLine", "Image", "count", "event"] {
                    let _ = e.field(f);
                }
            }
        }
        let line = format!("<38>Nov 27 12:00:00 host {prog}[1]: {}", words.join(" "));
        if let Ok(m) = parse(line.as_bytes(), &opts()) {
            let _ = decode(&m);
        }
    }
}
