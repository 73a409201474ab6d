package cases

import "strings"

// Reset forgets the attempts and decisions of one hand, for "Neu erfassen": the caseworker
// takes that hand again from its first finger. The other hand is untouched. A capture that was
// not kept is not part of the application, so it leaves no trace in the record.
func (c *Capture) Reset(hand string) {
	prefix := hand + "_"
	attempts := c.Attempts[:0:0]
	for _, a := range c.Attempts {
		if !strings.HasPrefix(a.Finger, prefix) {
			attempts = append(attempts, a)
		}
	}
	decisions := c.Decisions[:0:0]
	for _, d := range c.Decisions {
		if d.Hand != hand {
			decisions = append(decisions, d)
		}
	}
	c.Attempts, c.Decisions = attempts, decisions
}
