//! Rendezvous (highest random weight) hashing: each binding goes to the member whose hash with
//! it is highest, so a member joining or leaving moves only its own share, spread evenly.

use sha2::{Digest, Sha256};

fn weight(member: &str, binding: &str) -> u64 {
    let digest = Sha256::new().chain_update(member).chain_update([0u8]).chain_update(binding).finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

/// The member `binding` belongs to among `members` (ties go to the smaller id).
pub fn owner_of<'a>(binding: &str, members: &'a [String]) -> Option<&'a str> {
    members.iter().max_by(|a, b| weight(a, binding).cmp(&weight(b, binding)).then_with(|| b.cmp(a))).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn a_leaving_member_moves_only_its_share_and_shares_are_even() {
        let three = members(&["gw-a", "gw-b", "gw-c"]);
        let two = members(&["gw-a", "gw-c"]);
        let bindings: Vec<String> = (0..3000).map(|i| format!("binding-{i}")).collect();
        let mut counts = std::collections::HashMap::new();
        for binding in &bindings {
            let before = owner_of(binding, &three).expect("an owner");
            *counts.entry(before).or_insert(0) += 1;
            let after = owner_of(binding, &two).expect("an owner");
            if before != "gw-b" {
                assert_eq!(before, after, "{binding} moved though its owner stayed");
            }
        }
        for (member, count) in counts {
            assert!((850..=1150).contains(&count), "{member} got {count} of 3000");
        }
        assert_eq!(owner_of("x", &[]), None);
        assert_eq!(owner_of("x", &members(&["only"])), Some("only"));
    }
}
