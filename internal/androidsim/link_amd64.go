package androidsim

import "golang.org/x/sys/unix"

// sysLink is link(2), which amd64 has beside linkat(2).
const sysLink = unix.SYS_LINK
