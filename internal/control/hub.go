package control

import "sync"

// Hub wakes waiters on a topic ("machine:<id>", "request:<id>"). A wake-up
// carries no data: the waiter re-reads the database, so a missed or merged
// wake-up costs nothing but latency. It is safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[chan struct{}]struct{}{}} }

// Subscribe returns a channel that receives (at most one pending) signal
// after each Publish on topic, and a cancel function that must be called.
func (h *Hub) Subscribe(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan struct{}]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[topic], ch)
		if len(h.subs[topic]) == 0 {
			delete(h.subs, topic)
		}
		h.mu.Unlock()
	}
}

// Has reports whether topic has a subscriber (for a machine: its agent is
// watching on this server right now).
func (h *Hub) Has(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[topic]) > 0
}

// Publish wakes every subscriber of each topic.
func (h *Hub) Publish(topics ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		for ch := range h.subs[t] {
			select {
			case ch <- struct{}{}:
			default: // already signalled
			}
		}
	}
}

func machineTopic(id string) string { return "machine:" + id }
func requestTopic(id string) string { return "request:" + id }
