/* Test helper: holds the spool's write lock until standard input closes
 * (or 60 s pass), so tests can see what writers do against a locked spool.
 * Prints "locked" once it holds the lock. */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <sqlite3.h>

int
main(int argc, char **argv)
{
	sqlite3 *db;
	struct pollfd pfd = { 0, POLLIN, 0 };

	if (argc != 2) {
		fprintf(stderr, "usage: spool-lock SPOOL\n");
		return 64;
	}
	if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "spool-lock: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	poll(&pfd, 1, 60000);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return 0;
}
