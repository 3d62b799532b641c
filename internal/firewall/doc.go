// Package firewall enforces Drawbridge grants in the Linux kernel with
// nftables. It is the only code that touches the host firewall.
//
// # What it imposes on the host
//
// The package owns exactly one table, "inet drawbridge", and never reads or
// changes any other table. Its content (see testdata/ruleset.golden):
//
//	table inet drawbridge {
//		set protected { type inet_proto . inet_service }   # ports we guard
//		set allow4 { type ipv4_addr . inet_proto . inet_service; flags interval,timeout; counter }
//		set allow6 { type ipv6_addr . inet_proto . inet_service; flags interval,timeout; counter }
//		chain input {
//			type filter hook input priority -10; policy accept;
//			meta l4proto . th dport @protected jump guard
//		}
//		chain guard {
//			ip saddr . meta l4proto . th dport @allow4 accept
//			ip6 saddr . meta l4proto . th dport @allow6 accept
//			ct state established,related accept
//			tcp flags & syn == 0 reject with tcp reset   # stray segment of a cut flow
//			drop
//		}
//	}
//
// Every rule carries a comment starting with "drawbridge:", so it can be
// recognised (and its drift detected).
//
// Coexistence: the input chain hooks at priority -10, just before the usual
// filter tables (priority 0). A packet to a protected port that no grant
// allows is dropped, and a drop in any nftables base chain is final. Our
// accept, in contrast, only means "not dropped by us": packets go on to the
// other tables (iptables-nft, firewalld, ufw, Docker...), which still decide.
// Traffic to ports that are not protected is not affected at all, and
// established connections are never cut by the ruleset (see Terminate). The
// rules also apply to loopback traffic.
//
// Usage: every allow element carries a counter (the sets' "counter"
// expression), and packets to a protected port meet the allow sets before
// the "established" rule, so every packet of a granted source, on new and
// established connections alike, is counted while its grant lives; Counters
// reads them. Once the grant has ended, its established connections are
// accepted by the "established" rule, uncounted. Traffic to ports that are
// not protected never reaches the guard chain.
//
// Expiry: each grant is an element of allow4/allow6 whose kernel timeout is
// the grant's remaining time, so access closes on time even when the agent is
// dead or the host is cut off from the server. Connections already
// established stay up after expiry, until Terminate removes their conntrack
// entries; the next segment of such a flow is then answered with a TCP reset.
//
// The kernel's interval+concatenation set type (pipapo) rejects overlapping
// ranges, so grants are first normalised into disjoint ranges per protocol
// and port, each with the largest remaining time of the grants that cover it.
//
// Apply is declarative and idempotent: it compares the kernel with the
// desired State and sends only the difference, in one atomic netlink batch.
// If the table's structure has drifted (table, chain, rule or set deleted or
// edited by someone else), the whole table is rebuilt in one batch, so a
// periodic Apply is also a drift repair. Very large changes (more than
// maxBatchElements elements) are sent in several batches: the first holds the
// structure and the first elements, the rest follow in order.
//
// Between two Applies, only the kernel's timeouts change our elements without
// advancing the ruleset generation (NFT_MSG_GETGEN). While the generation is
// the one our last commit produced, Apply trusts its own record of the
// elements and skips the structural listing and set dump; every commit is
// made with that generation (NFNL_BATCH_GENID), so a concurrent change by
// anyone makes the commit fail and Apply start over with a full check.
//
// Requirements: Linux ≥ 5.6 with nf_tables (pipapo sets) and stateful set
// expressions (element counters); CAP_NET_ADMIN in the target network
// namespace. Supported probes all of them. On other systems the package
// builds as a stub (firewall_other.go) whose Open and Supported fail with
// errors.ErrUnsupported ("the agent runs only on Linux"), so the CLI builds
// for macOS and Windows.
package firewall
