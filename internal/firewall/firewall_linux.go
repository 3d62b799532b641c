//go:build linux

package firewall

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

const (
	tableName      = "drawbridge"
	chainInput     = "input"
	chainGuard     = "guard"
	setProtected   = "protected"
	setAllow4      = "allow4"
	setAllow6      = "allow6"
	inputPriority  = -10
	commentPrefix  = "drawbridge: "
	probeTableName = "drawbridge_probe"

	// maxBatchElements bounds the set elements sent in one netlink batch:
	// huge batches fail with ENOBUFS (google/nftables#350).
	maxBatchElements = 4096

	// expiryTolerance is how far a kernel element's remaining time may be
	// from the desired one before Apply resets it.
	expiryTolerance = time.Second
	// overrunTolerance is the other side: an element may outlive its
	// desired remaining time only by this much (the kernel's jiffy
	// rounding and the time between reading and computing), never by a
	// second: nothing stays open past its end.
	overrunTolerance = 50 * time.Millisecond
)

var (
	protectedKeyType = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	allow4KeyType    = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	allow6KeyType    = nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
)

// Firewall manages the table "inet drawbridge" of one network namespace.
// It is safe for concurrent use; calls are serialised.
type Firewall struct {
	netns int
	log   *slog.Logger

	mu   sync.Mutex
	conn *nftables.Conn
	// gen is the ruleset generation right after our last successful
	// commit on a verified structure; while the kernel still reports it,
	// nobody else changed any ruleset and the structural check is skipped.
	gen      uint32
	genKnown bool
	// start is when the current Apply began: the moment its remaining
	// times refer to.
	start time.Time
	// now is the clock for start, the cache's deadlines and the diff;
	// time.Now except in tests that must not depend on machine speed.
	now func() time.Time
	// cache mirrors the elements of our sets (set name → element key →
	// element with its expiry deadline) as of generation gen. Only the
	// kernel's timeouts change elements without a new generation, so while
	// gen holds, Apply diffs against the cache instead of dumping the sets.
	cache map[string]map[string]cachedElem
	// countersMissing is set when Counters finds an allow element without
	// a counter: the sets were recreated without their counter expression,
	// which verify cannot see in the set's description, so the next Apply
	// rebuilds the table.
	countersMissing bool
}

// cachedElem is an element we know to be in the kernel, and when it expires
// (zero for elements without timeout).
type cachedElem struct {
	el       nftables.SetElement
	deadline time.Time
}

// Open connects to nftables in the namespace given by opts. It changes
// nothing in the kernel; call Apply to install the table. Close releases the
// netlink socket.
func Open(opts Options) (*Firewall, error) {
	copts := []nftables.ConnOption{nftables.AsLasting()}
	if opts.NetNS != 0 {
		copts = append(copts, nftables.WithNetNSFd(opts.NetNS))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("firewall: open netlink: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Firewall{netns: opts.NetNS, log: log, conn: conn, now: time.Now}, nil
}

// Close releases the netlink socket. The table stays in the kernel and keeps
// enforcing (and expiring) grants.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn.CloseLasting()
}

// objects are the kernel objects of our table, as we create them.
type objects struct {
	table                     *nftables.Table
	protected, allow4, allow6 *nftables.Set
	input, guard              *nftables.Chain
}

func newObjects() objects {
	t := &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}
	accept := nftables.ChainPolicyAccept
	return objects{
		table:     t,
		protected: &nftables.Set{Table: t, Name: setProtected, KeyType: protectedKeyType, Concatenation: true},
		allow4: &nftables.Set{Table: t, Name: setAllow4, KeyType: allow4KeyType, Concatenation: true,
			Interval: true, HasTimeout: true, Counter: true},
		allow6: &nftables.Set{Table: t, Name: setAllow6, KeyType: allow6KeyType, Concatenation: true,
			Interval: true, HasTimeout: true, Counter: true},
		input: &nftables.Chain{Name: chainInput, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRef(inputPriority), Policy: &accept},
		guard: &nftables.Chain{Name: chainGuard, Table: t},
	}
}

// ruleSpec is one rule of ours: its chain, comment and expressions.
type ruleSpec struct {
	chain   string
	comment string
	exprs   []expr.Any
}

// rules returns our rules in order. The set IDs tie lookups to sets created
// in the same batch; they are 0 when comparing with the kernel, which does
// not report them.
func rules(o objects) []ruleSpec {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	l4proto := func(reg uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg} }
	dport := func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	}
	nfproto := func(p byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		}
	}
	// Concatenations are built in consecutive 32-bit registers starting at
	// NFT_REG32_00 (8), which is the first word of NFT_REG_1 (1). The kernel
	// reports a 32-bit register that starts a 128-bit one by the 128-bit
	// number, so such registers are written that way here to compare equal.
	return []ruleSpec{
		{chainInput, "protected ports", []expr.Any{
			l4proto(1), dport(9),
			&expr.Lookup{SourceRegister: 1, SetName: o.protected.Name, SetID: o.protected.ID},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: chainGuard},
		}},
		{chainGuard, "ipv4 grants", append(nfproto(unix.NFPROTO_IPV4),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			l4proto(9), dport(10),
			&expr.Lookup{SourceRegister: 1, SetName: o.allow4.Name, SetID: o.allow4.ID},
			accept,
		)},
		{chainGuard, "ipv6 grants", append(nfproto(unix.NFPROTO_IPV6),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
			l4proto(2), dport(13), // 2 is NFT_REG_2 = NFT_REG32_04 (12), as the kernel reports it
			&expr.Lookup{SourceRegister: 1, SetName: o.allow6.Name, SetID: o.allow6.ID},
			accept,
		)},
		// Established flows survive the end of their grant (as in Azure).
		// This comes after the grant lookups, not first in the input
		// chain, so that every packet of a granted source, new or
		// established, passes through the allow sets and is counted by
		// its element's counter while the grant lives.
		{chainGuard, "established", []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
			accept,
		}},
		// A TCP segment without SYN reaching the guard belongs to a flow
		// whose conntrack entry was deleted (Terminate): reset it so the
		// peer notices at once instead of retransmitting into a drop.
		{chainGuard, "reset cut flows", []expr.Any{
			l4proto(1),
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x02}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}},
			&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
		}},
		{chainGuard, "drop", []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}},
	}
}

// Apply makes the kernel match s: it installs the table if missing, rebuilds
// it if its structure drifted, and otherwise adds, deletes and replaces only
// the set elements that differ. An allow element is kept when its kernel
// expiry is within one second of the desired Remaining, and replaced (delete
// + add in the same batch, which resets the timeout) otherwise. All changes
// go in one atomic batch unless more than maxBatchElements elements change.
// A second Apply of the same State changes nothing.
//
// If another process changes any nftables ruleset during the Apply, the
// commit fails with ERESTART and Apply starts over once.
func (f *Firewall) Apply(s State) (Stats, error) {
	// Remaining times are as of the call: the time spent normalising and
	// waiting for the lock must not be added to any grant.
	start := f.now()
	if err := s.validate(); err != nil {
		return Stats{}, fmt.Errorf("firewall: apply: %w", err)
	}
	d := desiredState(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.start = start
	st, err := f.apply(d)
	if err != nil {
		// A race with the kernel (an element expired, someone else
		// committed): forget what we know and try once more from scratch.
		f.log.Debug("firewall apply retry", "err", err)
		f.forget()
		st, err = f.apply(d)
	}
	if err != nil {
		f.forget()
		return st, fmt.Errorf("firewall: apply: %w", err)
	}
	if st.Changed() {
		f.log.Debug("firewall applied", "added", st.Added, "removed", st.Removed, "replaced", st.Replaced, "rebuilt", st.Rebuilt)
	}
	return st, nil
}

// desired is a State encoded as set elements.
type desired struct {
	protected      []nftables.SetElement
	allow4, allow6 []nftables.SetElement
}

func desiredState(s State) desired {
	var d desired
	seen := map[Port]bool{}
	for _, p := range s.Protected {
		if !seen[p] {
			seen[p] = true
			d.protected = append(d.protected, nftables.SetElement{Key: protoPort(p.Protocol, p.Number)})
		}
	}
	elems := normalize(s.Allows)
	// One backing array for all keys: 2 keys of at most 24 bytes each.
	buf := make([]byte, 0, 48*len(elems))
	key := func(a netip.Addr, p Protocol, port uint16) []byte {
		start := len(buf)
		if a.Is4() {
			b := a.As4()
			buf = append(buf, b[:]...)
		} else {
			b := a.As16()
			buf = append(buf, b[:]...)
		}
		buf = append(buf, protoPort(p, port)...)
		return buf[start:len(buf):len(buf)]
	}
	for _, e := range elems {
		el := nftables.SetElement{
			Key:     key(e.From, e.Protocol, e.Port),
			KeyEnd:  key(e.To, e.Protocol, e.Port),
			Timeout: e.Timeout,
		}
		if e.From.Is4() {
			d.allow4 = append(d.allow4, el)
		} else {
			d.allow6 = append(d.allow6, el)
		}
	}
	return d
}

// protoPort encodes proto . port, each field padded to 4 bytes.
func protoPort(p Protocol, port uint16) []byte {
	return []byte{byte(p), 0, 0, 0, byte(port >> 8), byte(port), 0, 0}
}

// encodeKey encodes addr . proto . port.
func encodeKey(a netip.Addr, p Protocol, port uint16) []byte {
	return append(a.AsSlice(), protoPort(p, port)...)
}

// forget drops what we know about the kernel, so the next Apply checks the
// structure and dumps the sets.
func (f *Firewall) forget() {
	f.genKnown = false
	f.cache = nil
}

func (f *Firewall) apply(d desired) (Stats, error) {
	gen, err := f.conn.GetGen()
	if err != nil {
		return Stats{}, fmt.Errorf("get ruleset generation: %w", err)
	}
	o := newObjects()
	unchanged := f.genKnown && gen.ID == f.gen
	if !unchanged {
		f.cache = nil
		ok, why, err := f.verify(o)
		if err != nil {
			return Stats{}, err
		}
		if !ok {
			return f.rebuild(o, d, gen.ID, why)
		}
	}
	now := f.now()
	var st Stats
	var ops []elemOp
	next := map[string]map[string]cachedElem{}
	for _, x := range []struct {
		set  *nftables.Set
		want []nftables.SetElement
	}{{o.protected, d.protected}, {o.allow4, d.allow4}, {o.allow6, d.allow6}} {
		var have []nftables.SetElement
		if unchanged && f.cache != nil {
			have = cachedElements(f.cache[x.set.Name], now)
		} else {
			have, err = f.conn.GetSetElements(x.set)
			if err != nil {
				return Stats{}, fmt.Errorf("list set %s: %w", x.set.Name, err)
			}
		}
		next[x.set.Name] = map[string]cachedElem{}
		ops = diff(ops, &st, x.set, have, x.want, next[x.set.Name], now)
	}
	f.gen, f.genKnown = gen.ID, true
	f.cache = next
	if len(ops) == 0 {
		return st, nil
	}
	if err := f.send(ops, gen.ID); err != nil {
		return Stats{}, err
	}
	return st, nil
}

// cachedElements lists the cached elements that have not expired yet, with
// their remaining time as the kernel would report it.
func cachedElements(m map[string]cachedElem, now time.Time) []nftables.SetElement {
	els := make([]nftables.SetElement, 0, len(m))
	for _, c := range m {
		e := c.el
		if !c.deadline.IsZero() {
			e.Expires = c.deadline.Sub(now)
			if e.Expires <= 0 {
				continue // gone, or about to be collected by the kernel
			}
		}
		els = append(els, e)
	}
	// Deleting pipapo elements in random order is quadratic-slow in the
	// kernel (12k deletes: ~100 s in random order, well under a second in
	// key order), so keep the order the kernel dumps them in.
	slices.SortFunc(els, func(a, b nftables.SetElement) int {
		return cmp.Or(bytes.Compare(a.Key, b.Key), bytes.Compare(a.KeyEnd, b.KeyEnd))
	})
	return els
}

// elemKey identifies an element within its set.
func elemKey(e *nftables.SetElement) string { return string(e.Key) + "/" + string(e.KeyEnd) }

// elemOp is one element change; a replacement is a delete followed by an add
// of the same element, and both always go in the same batch.
type elemOp struct {
	set     *nftables.Set
	del     *nftables.SetElement
	add     *nftables.SetElement
	ordered int // 0 deletes, 1 replacements, 2 adds: deletes first frees ranges
}

// diff appends to ops what turns the kernel's elements have into want, and
// records in next the elements the set will hold afterwards. Added elements
// get a provisional deadline; send sets the real one at commit.
func diff(ops []elemOp, st *Stats, set *nftables.Set, have, want []nftables.SetElement, next map[string]cachedElem, now time.Time) []elemOp {
	haveByKey := make(map[string]*nftables.SetElement, len(have))
	for i := range have {
		if have[i].IntervalEnd {
			continue // not produced by pipapo; never ours
		}
		haveByKey[elemKey(&have[i])] = &have[i]
	}
	var adds, repl []elemOp
	for i := range want {
		w := &want[i]
		k := elemKey(w)
		h, ok := haveByKey[k]
		delete(haveByKey, k)
		switch {
		case !ok:
			adds = append(adds, elemOp{set: set, add: w, ordered: 2})
			st.Added++
		case set.HasTimeout && (h.Expires == 0 || h.Expires > w.Timeout+overrunTolerance || w.Timeout-h.Expires > expiryTolerance):
			repl = append(repl, elemOp{set: set, del: h, add: w, ordered: 1})
			st.Replaced++
		default:
			c := cachedElem{el: stripForDelete(*w)}
			if set.HasTimeout {
				c.deadline = now.Add(h.Expires)
			}
			next[k] = c
			continue
		}
		c := cachedElem{el: stripForDelete(*w)}
		if set.HasTimeout {
			c.deadline = now.Add(w.Timeout)
		}
		next[k] = c
	}
	for i := range have {
		if h := &have[i]; haveByKey[elemKey(h)] == h {
			ops = append(ops, elemOp{set: set, del: h})
			st.Removed++
		}
	}
	ops = append(ops, repl...)
	return append(ops, adds...)
}

// send commits ops in batches of at most maxBatchElements elements, each
// checked against the generation it was computed on. The cache deadlines of
// added elements are set from the time of their commit.
func (f *Firewall) send(ops []elemOp, gen uint32) error {
	slices.SortStableFunc(ops, func(a, b elemOp) int { return a.ordered - b.ordered })
	n, first := 0, 0
	for i, op := range ops {
		if op.del != nil {
			if err := f.conn.SetDeleteElements(op.set, []nftables.SetElement{stripForDelete(*op.del)}); err != nil {
				return err
			}
			n++
		}
		if op.add != nil {
			if op.set.HasTimeout && op.add.Timeout > 0 {
				// Remaining times are as of the start of Apply; a large apply
				// sends its later batches seconds after that, and the time in
				// between must not be added to any grant.
				op.add.Timeout = max(op.add.Timeout-f.now().Sub(f.start).Truncate(time.Millisecond), time.Millisecond)
			}
			if err := f.conn.SetAddElements(op.set, []nftables.SetElement{*op.add}); err != nil {
				return err
			}
			n++
		}
		if n < maxBatchElements && i < len(ops)-1 {
			continue
		}
		at := f.now()
		if err := f.flush(gen); err != nil {
			return err
		}
		if f.cache != nil {
			for _, op := range ops[first : i+1] {
				if op.add == nil || !op.set.HasTimeout {
					continue
				}
				k := elemKey(op.add)
				if c, ok := f.cache[op.set.Name][k]; ok {
					c.deadline = at.Add(op.add.Timeout)
					f.cache[op.set.Name][k] = c
				}
			}
		}
		gen++
		n, first = 0, i+1
	}
	return nil
}

// flush commits the pending batch if the ruleset is still at generation gen,
// and remembers the generation our commit produced.
func (f *Firewall) flush(gen uint32) error {
	if err := f.conn.FlushWithGenID(gen); err != nil {
		f.forget()
		return fmt.Errorf("commit: %w", err)
	}
	// Every commit advances the generation by exactly one.
	f.gen, f.genKnown = gen+1, true
	return nil
}

// stripForDelete keeps what identifies an element.
func stripForDelete(e nftables.SetElement) nftables.SetElement {
	return nftables.SetElement{Key: e.Key, KeyEnd: e.KeyEnd}
}

// rebuild deletes our table (if present) and creates it anew with d, in one
// batch (plus more element batches when d is very large).
func (f *Firewall) rebuild(o objects, d desired, gen uint32, why string) (Stats, error) {
	f.log.Info("firewall table rebuilt", "table", "inet "+tableName, "reason", why)
	st := Stats{Rebuilt: true}
	if why != "absent" {
		f.conn.DelTable(o.table)
	}
	f.conn.AddTable(o.table)
	f.conn.AddChain(o.input)
	f.conn.AddChain(o.guard)
	budget := maxBatchElements
	// As in send: remaining times are as of the start of Apply, and the
	// time spent since (verify) must not be added to any grant.
	elapsed := f.now().Sub(f.start).Truncate(time.Millisecond)
	first := func(els []nftables.SetElement) ([]nftables.SetElement, []nftables.SetElement) {
		k := min(budget, len(els))
		budget -= k
		for i := range els[:k] {
			if els[i].Timeout > 0 {
				els[i].Timeout = max(els[i].Timeout-elapsed, time.Millisecond)
			}
		}
		return els[:k], els[k:]
	}
	var rest []elemOp
	for _, x := range []struct {
		set *nftables.Set
		els []nftables.SetElement
	}{{o.protected, d.protected}, {o.allow4, d.allow4}, {o.allow6, d.allow6}} {
		batch, later := first(x.els)
		if err := f.conn.AddSet(x.set, batch); err != nil {
			return Stats{}, err
		}
		for i := range later {
			rest = append(rest, elemOp{set: x.set, add: &later[i], ordered: 2})
		}
		st.Added += len(x.els)
	}
	for _, r := range rules(o) {
		c := o.input
		if r.chain == chainGuard {
			c = o.guard
		}
		f.conn.AddRule(&nftables.Rule{Table: o.table, Chain: c, Exprs: r.exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, commentPrefix+r.comment)})
	}
	at := f.now()
	if err := f.flush(gen); err != nil {
		return Stats{}, err
	}
	f.countersMissing = false
	// The elements of later batches get their deadlines in send.
	f.cache = map[string]map[string]cachedElem{}
	for _, x := range []struct {
		set *nftables.Set
		els []nftables.SetElement
	}{{o.protected, d.protected}, {o.allow4, d.allow4}, {o.allow6, d.allow6}} {
		m := make(map[string]cachedElem, len(x.els))
		for i := range x.els {
			c := cachedElem{el: stripForDelete(x.els[i])}
			if x.set.HasTimeout {
				c.deadline = at.Add(x.els[i].Timeout)
			}
			m[elemKey(&x.els[i])] = c
		}
		f.cache[x.set.Name] = m
	}
	if len(rest) > 0 {
		if err := f.send(rest, gen+1); err != nil {
			return Stats{}, err
		}
	}
	return st, nil
}

// verify compares the kernel's table structure with ours. It reports ok, or
// why not ("absent" when the table does not exist).
func (f *Firewall) verify(o objects) (ok bool, why string, err error) {
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, "", fmt.Errorf("list tables: %w", err)
	}
	i := slices.IndexFunc(tables, func(t *nftables.Table) bool { return t.Name == tableName })
	if i < 0 {
		return false, "absent", nil
	}
	if tables[i].Flags&nftables.TableFlagDormant != 0 {
		return false, "table set dormant (every protected port open)", nil
	}
	if f.countersMissing {
		return false, "allow set without counters", nil
	}
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, "", fmt.Errorf("list chains: %w", err)
	}
	chains = slices.DeleteFunc(chains, func(c *nftables.Chain) bool { return c.Table.Name != tableName })
	if len(chains) != 2 {
		return false, fmt.Sprintf("%d chains", len(chains)), nil
	}
	for _, c := range chains {
		var want *nftables.Chain
		switch c.Name {
		case chainInput:
			want = o.input
		case chainGuard:
			want = o.guard
		default:
			return false, "unknown chain " + c.Name, nil
		}
		if !sameChain(c, want) {
			return false, "chain " + c.Name + " changed", nil
		}
	}
	sets, err := f.conn.GetSets(o.table)
	if err != nil {
		return false, "", fmt.Errorf("list sets: %w", err)
	}
	if len(sets) != 3 {
		return false, fmt.Sprintf("%d sets", len(sets)), nil
	}
	for _, s := range sets {
		var want *nftables.Set
		switch s.Name {
		case setProtected:
			want = o.protected
		case setAllow4:
			want = o.allow4
		case setAllow6:
			want = o.allow6
		default:
			return false, "unknown set " + s.Name, nil
		}
		if s.Interval != want.Interval || s.HasTimeout != want.HasTimeout || s.Timeout != 0 ||
			s.Concatenation != want.Concatenation || s.IsMap || s.Constant ||
			s.KeyType.Bytes != want.KeyType.Bytes || s.KeyType.GetNFTMagic() != want.KeyType.GetNFTMagic() {
			return false, "set " + s.Name + " changed", nil
		}
	}
	want := rules(o)
	for _, c := range []*nftables.Chain{o.input, o.guard} {
		have, err := f.conn.GetRules(o.table, c)
		if err != nil {
			return false, "", fmt.Errorf("list rules of %s: %w", c.Name, err)
		}
		var spec []ruleSpec
		for _, r := range want {
			if r.chain == c.Name {
				spec = append(spec, r)
			}
		}
		if len(have) != len(spec) {
			return false, fmt.Sprintf("chain %s has %d rules", c.Name, len(have)), nil
		}
		for i, r := range have {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			if comment != commentPrefix+spec[i].comment || !sameExprs(r.Exprs, spec[i].exprs) {
				return false, fmt.Sprintf("chain %s rule %d changed", c.Name, i), nil
			}
		}
	}
	return true, "", nil
}

func sameChain(c, want *nftables.Chain) bool {
	if c.Type != want.Type && !(want.Hooknum == nil && c.Type == "") {
		return false
	}
	if (c.Hooknum == nil) != (want.Hooknum == nil) || (c.Hooknum != nil && *c.Hooknum != *want.Hooknum) {
		return false
	}
	if (c.Priority == nil) != (want.Priority == nil) || (c.Priority != nil && *c.Priority != *want.Priority) {
		return false
	}
	if want.Policy != nil && (c.Policy == nil || *c.Policy != *want.Policy) {
		return false
	}
	return true
}

// sameExprs compares expressions by their netlink encoding.
func sameExprs(a, b []expr.Any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, err1 := expr.Marshal(byte(nftables.TableFamilyINet), a[i])
		y, err2 := expr.Marshal(byte(nftables.TableFamilyINet), b[i])
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// Remove deletes the table "inet drawbridge" and with it every grant and
// protection. It is not an error if the table does not exist.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forget()
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("firewall: remove: list tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == tableName }) {
		return nil
	}
	f.conn.DelTable(newObjects().table)
	if err := f.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("firewall: remove: %w", err)
	}
	return nil
}

// Supported reports whether the kernel can run our ruleset in the network
// namespace netns (a file descriptor; 0 for the current namespace): it
// creates, fills and deletes a probe table "inet drawbridge_probe" with an
// interval+concatenation+timeout set with counters in a single batch, so
// nothing is left behind. The error says what failed (permission, missing
// nf_tables, no pipapo set support, no per-element counters).
func Supported(netns int) error {
	var copts []nftables.ConnOption
	if netns != 0 {
		copts = append(copts, nftables.WithNetNSFd(netns))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return fmt.Errorf("firewall: nftables netlink: %w", err)
	}
	if _, err := conn.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return fmt.Errorf("firewall: nftables not available: %w", err)
	}
	t := &nftables.Table{Name: probeTableName, Family: nftables.TableFamilyINet}
	s := &nftables.Set{Table: t, Name: "probe", KeyType: allow4KeyType, Concatenation: true, Interval: true, HasTimeout: true, Counter: true}
	conn.AddTable(t)
	e := nftables.SetElement{
		Key:     encodeKey(netip.MustParseAddr("198.18.0.0"), TCP, 22),
		KeyEnd:  encodeKey(netip.MustParseAddr("198.18.0.255"), TCP, 22),
		Timeout: time.Second,
	}
	if err := conn.AddSet(s, []nftables.SetElement{e}); err != nil {
		return fmt.Errorf("firewall: probe: %w", err)
	}
	conn.DelTable(t)
	if err := conn.Flush(); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("firewall: no permission to change nftables (needs CAP_NET_ADMIN): %w", err)
		}
		return fmt.Errorf("firewall: kernel rejects an interval+concatenation+timeout set with counters (needs Linux ≥ 5.6 with nf_tables and set expressions): %w", err)
	}
	return nil
}

// Installed reports whether our table exists in the kernel. The agent uses
// it at start: a missing table after a reboot is re-created from the last
// known protected ports before the server is reachable, so a host never
// boots with its management ports open.
func (f *Firewall) Installed() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("firewall: list tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == tableName }), nil
}
