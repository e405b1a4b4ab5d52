package proxy

// inviteStack is about what handling an INVITE needs of a goroutine's
// stack (the chain, identify, the fork, sipgo's client transaction).
const inviteStack = 12 << 10

// growStack grows a fresh goroutine's stack to about inviteStack in one
// step, while the stack is still shallow and cheap to copy; left to grow
// on its own, it doubled three times, each time deeper in the handler.
//
//go:noinline
func growStack(i int) byte {
	var pad [inviteStack]byte
	return pad[i%inviteStack]
}
