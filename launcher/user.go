package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// User is the container user the image's config names, resolved the way
// Docker resolves it: through the rootfs's own /etc/passwd and /etc/group.
type User struct {
	Name   string // empty when only a uid was given and passwd lacks it
	UID    int
	GID    int
	Groups []int // supplementary groups from /etc/group
	Home   string
}

// ErrNoUser: the image names a user or group its /etc/passwd or
// /etc/group does not have (docker run fails the same way).
var ErrNoUser = errors.New("no such user or group in the image")

// ResolveUser resolves spec ("", "name", "uid", "uid:gid", "name:group",
// "uid:group", "name:gid") inside the rootfs at dir. The files are opened
// through an os.Root, so a hostile symlink cannot make this read a file of
// the host.
func ResolveUser(dir, spec string) (User, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return User{}, err
	}
	defer root.Close()
	passwd := readDB(root, "etc/passwd", 7)
	group := readDB(root, "etc/group", 4)

	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := User{Home: "/"}
	var entry []string
	if id, err := strconv.Atoi(userPart); err == nil && id >= 0 {
		u.UID = id
		entry = find(passwd, 2, userPart)
	} else {
		entry = find(passwd, 0, userPart)
		if entry == nil {
			return User{}, fmt.Errorf("user %q: %w (no matching entry in its /etc/passwd)", userPart, ErrNoUser)
		}
		u.UID, _ = strconv.Atoi(entry[2])
	}
	if entry != nil {
		u.Name = entry[0]
		u.GID, _ = strconv.Atoi(entry[3])
		if entry[5] != "" {
			u.Home = entry[5]
		}
	}
	if hasGroup {
		if id, err := strconv.Atoi(groupPart); err == nil && id >= 0 {
			u.GID = id
		} else if g := find(group, 0, groupPart); g != nil {
			u.GID, _ = strconv.Atoi(g[2])
		} else {
			return User{}, fmt.Errorf("group %q: %w (no matching entry in its /etc/group)", groupPart, ErrNoUser)
		}
	}
	if u.Name != "" {
		for _, g := range group {
			gid, err := strconv.Atoi(g[2])
			if err != nil || gid == u.GID {
				continue
			}
			for _, m := range strings.Split(g[3], ",") {
				if m == u.Name {
					u.Groups = append(u.Groups, gid)
				}
			}
		}
	}
	return u, nil
}

// readDB reads a colon-separated database; lines with fewer than n fields
// are skipped, as libc does. A missing file is an empty database.
func readDB(root *os.Root, name string, n int) [][]string {
	f, err := root.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < n || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if _, err := strconv.Atoi(fields[2]); err != nil {
			continue
		}
		if n == 7 {
			if _, err := strconv.Atoi(fields[3]); err != nil {
				continue
			}
		}
		out = append(out, fields)
	}
	return out
}

func find(db [][]string, field int, value string) []string {
	for _, e := range db {
		if e[field] == value {
			return e
		}
	}
	return nil
}
