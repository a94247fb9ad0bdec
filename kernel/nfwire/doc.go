// Package nfwire is the nf_tables netlink wire code netctl keeps beside
// google/nftables v0.3.0: netlink attributes written and walked in place,
// one socket that dumps and reads the ruleset generation, and the batch
// writer that sends one transaction and names the message the kernel
// refused. The rule expressions inside are still the library's (expr),
// and the reads the library does whole go through its Conn: the chains of
// netctl's table (Read) and of every table (the forward-hook warning),
// Conn.ListChains.
// For each piece, why the library does not serve (measured on v0.3.0; the
// tests and benchmarks named are in package kernel, nftlib_linux_test.go):
//
//   - Batch and Conn.Send, instead of Conn.Flush. Flush's error does not say
//     which message failed: an overlapping element gives "conn.Receive:
//     netlink receive: file exists" (TestLibraryConnErrorsDoNotNameTheMessage);
//     Send says "add 1 elements of set links: file exists (an element exists
//     already or overlaps another …) (nothing was changed)", and plan,
//     apply and their tests rely on that. The library builds its messages
//     only inside Conn, so a batch is either all the library's or all ours.
//     Five of netctl's nine kinds of message (delete chain, flush chain,
//     delete set, add chain, add base chain) are byte-identical in both
//     (TestLibraryMessagesAgainstOurs); the others differ as below, or in
//     flags only (rules: NLM_F_ECHO; a policy change: NLM_F_CREATE).
//   - The messages: the table's comment (netctl's ownership mark,
//     NFTA_TABLE_USERDATA) cannot be written (nftables.Table has no user
//     data); AddSet marks every interval set's key byte order big-endian
//     (2), where nft marks a concatenation's "invalid" (0)
//     (TestLibraryAddSetUserdata); and SetAddElements allocates about eight
//     times per element: 100,000 link elements take 803k allocations and
//     80 MB against netctl's 1k and 20 MB, and 1.9× the time although the
//     library's benchmark starts from parsed keys
//     (BenchmarkLibraryEncodeLinks against BenchmarkEncodeLinks). The
//     16-bit wrap of one SetAddElements call (10,000 elements: Flush
//     returns nil and 318 arrive) is avoided by splitting elements over
//     calls — 100,000 then arrive in one batch
//     (TestLibraryConnWritesLargeSets) — but the allocations remain.
//   - Conn.Dump and GenID: v0.3.0 has no NFT_MSG_GETGEN request, so a read
//     cannot prove itself one snapshot; its rule decoder skips expressions
//     it does not know ("continue // unsupported expression type" in
//     expr.exprsFromBytes), so a rule with a counter would read as the rule
//     without it, where netctl must keep it as Unknown (drift); and its
//     element reads build a SetElement per element, where netctl renders
//     keys and comments straight from the dump into one text. Dump offers a
//     256 KiB receive buffer (the kernel sizes a dump's datagrams after it)
//     and reports NLM_F_DUMP_INTR, which Read retries on.
//   - Writer and Attrs, instead of mdlayher/netlink's AttributeEncoder and
//     AttributeDecoder: 600 link elements encode 4.5× faster with 21
//     allocations instead of 7,215 (BenchmarkWriteElements); walking the
//     keys and comments of ~900 dumped elements is 20–26× faster with no
//     allocation instead of 5,949 (BenchmarkWalkElements).
package nfwire
