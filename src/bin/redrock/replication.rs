//! What a node's INFO replication tells the tool: how far its data goes
//! and, on a replica, which master it follows and whether the link is up.

use crate::client::Client;

/// One node's replication state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replication {
    /// The last sequence number its data holds (`master_repl_offset`;
    /// master and replicas number the same writes alike).
    pub offset: u64,
    /// On a replica: the master it follows.
    pub link: Option<Link>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// HOST:PORT.
    pub master: String,
    /// `master_link_status:up`.
    pub up: bool,
}

impl Link {
    pub fn state(&self) -> &'static str {
        if self.up {
            "up"
        } else {
            "down"
        }
    }
}

/// Reads INFO replication from `client`'s node.
pub fn replication_of(client: &mut Client) -> Result<Replication, String> {
    let text = client.text(&["INFO", "replication"])?;
    parse(&text).ok_or_else(|| format!("{}: INFO replication lacks its offsets", client.addr))
}

fn parse(text: &str) -> Option<Replication> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let offset = field("master_repl_offset")?.parse().ok()?;
    let link = match field("role")? {
        "slave" => Some(Link {
            master: format!("{}:{}", field("master_host")?, field("master_port")?),
            up: field("master_link_status")? == "up",
        }),
        _ => None,
    };
    Some(Replication { offset, link })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_master_and_a_replica() {
        let master = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
                      slave0:ip=127.0.0.1,port=7002,state=online,offset=12,lag=0\r\n\
                      master_failover_state:no-failover\r\nmaster_repl_offset:12\r\n";
        assert_eq!(
            parse(master),
            Some(Replication {
                offset: 12,
                link: None
            })
        );
        let replica = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n\
                       master_port:7001\r\nmaster_link_status:down\r\n\
                       slave_repl_offset:9\r\nmaster_repl_offset:9\r\n";
        assert_eq!(
            parse(replica),
            Some(Replication {
                offset: 9,
                link: Some(Link {
                    master: "127.0.0.1:7001".into(),
                    up: false
                })
            })
        );
        assert_eq!(parse("role:master\r\n"), None);
    }
}
