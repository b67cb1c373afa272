//! A DNS server for tests: answers TXT queries over UDP from records the
//! test publishes, and `NXDOMAIN` for every other name. The server under
//! test is pointed at it with `--dns-server`.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// TXT records by fully qualified name, lower case, without the final dot.
type Records = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A running DNS server; stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    /// Where it listens (UDP, on 127.0.0.1).
    pub addr: SocketAddr,
    records: Records,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    /// Starts a server with no records.
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let records = Records::default();
        let task = tokio::spawn(serve(socket, records.clone()));
        DnsServer { addr, records, task }
    }

    /// Publishes a TXT record `text` at `name` (beside any already there).
    pub fn publish_txt(&self, name: &str, text: &str) {
        let mut records = self.records.lock().unwrap();
        records
            .entry(name.trim_end_matches('.').to_ascii_lowercase())
            .or_default()
            .push(text.to_owned());
    }

    /// Removes every record at `name`.
    pub fn remove(&self, name: &str) {
        self.records
            .lock()
            .unwrap()
            .remove(&name.trim_end_matches('.').to_ascii_lowercase());
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, records: Records) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let answer = answer(&query, &records);
        if let Ok(bytes) = answer.to_vec() {
            let _ = socket.send_to(&bytes, from).await;
        }
    }
}

fn answer(query: &Message, records: &Records) -> Message {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    reply.add_query(q.clone());
    let name = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let texts = records.lock().unwrap().get(&name).cloned();
    match texts {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(texts) if q.query_type() == RecordType::TXT => {
            for text in texts {
                let data = RData::TXT(TXT::new(vec![text]));
                reply.add_answer(Record::from_rdata(q.name().clone(), 0, data));
            }
        }
        // The name exists but holds no record of the type asked for.
        Some(_) => {}
    }
    reply
}
