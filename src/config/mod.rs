//! TEMPORARY stand-in with the agreed shape (replaced by wip/config at merge).
#![allow(missing_docs)]
use std::collections::BTreeMap;
use std::net::IpAddr;
use ipnet::IpNet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetsMode { Strict, Open }
#[derive(Clone, Debug)]
pub struct Host { pub ip: IpAddr, pub name: Option<String>, pub mac: Option<[u8; 6]>, pub role: Option<String>, pub gateway: bool }
#[derive(Clone, Debug)]
pub struct Zone { pub id: String, pub name_zh: Option<String>, pub name_en: Option<String>, pub level: u8, pub default: bool, pub isolated: bool, pub cidrs: Vec<IpNet>, pub unit: Option<String>, pub contact: Option<String>, pub assets: AssetsMode, pub vlans: Vec<u16>, pub hosts: Vec<Host> }
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Service { Any, Icmp, Tcp { lo: u16, hi: u16 }, Udp { lo: u16, hi: u16 }, IpProto(u8) }
impl Service {
    pub fn matches(&self, proto: u8, dport: u16) -> bool {
        match *self {
            Service::Any => true,
            Service::Icmp => proto == 1 || proto == 58,
            Service::Tcp { lo, hi } => proto == 6 && dport >= lo && dport <= hi,
            Service::Udp { lo, hi } => proto == 17 && dport >= lo && dport <= hi,
            Service::IpProto(p) => proto == p,
        }
    }
}
#[derive(Clone, Debug)]
pub struct AllowRule { pub from: Vec<String>, pub to: Vec<String>, pub src_hosts: Vec<IpNet>, pub dst_hosts: Vec<IpNet>, pub services: Vec<Service>, pub expires: Option<chrono::DateTime<chrono::FixedOffset>>, pub ticket: Option<String>, pub why: Option<String> }
#[derive(Clone, Debug, Default)]
pub struct Indicator { pub value: String, pub category: String }
#[derive(Clone, Debug)]
pub struct IpIndicator { pub value: IpNet, pub category: String }
#[derive(Clone, Debug, Default)]
pub struct Indicators { pub domains: Vec<Indicator>, pub ips: Vec<IpIndicator> }
#[derive(Clone, Debug)]
pub struct Config { pub name: String, pub timezone: chrono_tz::Tz, pub home_nets: Vec<IpNet>, pub zones: Vec<Zone>, pub groups: BTreeMap<String, Vec<String>>, pub allow: Vec<AllowRule>, pub cleartext_banned_min_level: Option<u8>, pub cleartext_services: Vec<Service>, pub cleartext_http_basic_auth: bool, pub indicators: Indicators, pub admins: Vec<String> }
impl Config {
    pub fn zone_index(&self, id: &str) -> Option<usize> { self.zones.iter().position(|z| z.id == id) }
    pub fn expand_group(&self, name: &str) -> Vec<usize> {
        fn go(c: &Config, n: &str, depth: usize, out: &mut Vec<usize>) {
            if depth > 16 { return; }
            if let Some(i) = c.zone_index(n) { if !out.contains(&i) { out.push(i); } return; }
            if let Some(g) = c.groups.get(n) { for m in g { go(c, m, depth + 1, out); } }
        }
        let mut v = Vec::new(); go(self, name, 0, &mut v); v
    }
}
