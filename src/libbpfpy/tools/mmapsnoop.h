/* mmapsnoop: the event record shared by the BPF program and its reader. */
#ifndef MMAPSNOOP_H
#define MMAPSNOOP_H

#define TASK_COMM_LEN 16
#define PATH_BUF 4096		/* room for path components (power of two) */
#define NAME_CHUNK 256		/* NAME_MAX + 1: the most one component may take */
#define MAX_DEPTH 48		/* directory levels walked (and mounts crossed) */

/* path_flags */
#define PATH_FILE 1		/* fd named an open file: path holds its components */
#define PATH_TRUNCATED 2	/* the walk stopped early: the path lacks its top */
#define PATH_DELETED 4		/* the file was unlinked */
#define PATH_PSEUDO 8		/* a pseudo file: path is its bare name */
#define PATH_ANON_INODE 16	/* ... of the anon inode filesystem */

/*
 * One mmap() call.  The ring buffer record is the header (everything before
 * path) followed by path_len bytes of path: the file's path components from the
 * file up to the root, each NUL-terminated ("libc.so.6\0lib\0usr\0").
 */
struct event {
	__u64 ts;		/* CLOCK_MONOTONIC ns at entry */
	__s64 ret;		/* returned address, or -errno */
	__u64 addr;		/* requested address */
	__u64 len;
	__u64 off;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 prot;
	__u32 flags;
	__s32 fd;
	__u16 path_len;
	__u16 path_flags;
	__u32 reserved;
	char comm[TASK_COMM_LEN];
	char path[PATH_BUF + NAME_CHUNK];
};

#endif /* MMAPSNOOP_H */
