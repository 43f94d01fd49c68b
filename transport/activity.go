package transport

import (
	"time"

	"github.com/herald-io/herald/protocol"
)

// sweepActivity pings clients silent for the activity timeout and closes with 4201 those that
// do not answer within the pong timeout. One goroutine for all sockets, not a timer each; it
// runs on the server's clock.
func (s *Server) sweepActivity() {
	activity, pong := s.cfg.ActivityTimeout, s.cfg.PongTimeout
	interval := max(min(activity, pong)/4, 50*time.Millisecond)
	tick := s.clock.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.Chan():
			n := s.clock.Now().UnixNano() // not the tick's time: ticks that were late are dropped

			for _, sock := range s.sockets.all() {
				if sent := sock.pingSent.Load(); sent != 0 {
					if time.Duration(n-sent) > pong {
						// no queue flush: a client that does not answer may not be reading either
						sock.closeNow(protocol.CodePongNotReceived, "Pong reply not received")
					}
					continue
				}
				if time.Duration(n-sock.lastSeen.Load()) > activity {
					sock.pingSent.Store(n)
					sock.Send(protocol.PingFrame)
					sock.enqueue(wirePing, time.Time{})
				}
			}
		}
	}
}

// seen records that the client showed it is there: any frame, a ping or a pong.
func (s *socket) seen() {
	s.lastSeen.Store(s.server.clock.Now().UnixNano())
	s.pingSent.Store(0)
}
