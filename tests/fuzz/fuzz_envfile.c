/* libFuzzer target: the env-file parser, then the pairs it gives as the
 * environment of cfg_load(), so that every environment value goes through
 * the same checks as in the agent. Names handed to the callback must be
 * valid names; every bad line must give one message; nothing may leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXENV 64

typedef struct envv {
	char *v[MAXENV + 1];
	size_t n;
} envv;

static int
take(const char *key, const char *value, void *arg)
{
	envv *e = arg;
	size_t kl = strlen(key), vl = strlen(value);
	char *s;

	if (kl == 0 || (key[0] >= '0' && key[0] <= '9') ||
	    strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != kl)
		abort();
	if (e->n == MAXENV)
		return 0;
	if ((s = malloc(kl + vl + 2)) == NULL)
		abort();
	memcpy(s, key, kl);
	s[kl] = '=';
	memcpy(s + kl + 1, value, vl + 1);
	e->v[e->n++] = s;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	envv e;
	char *errs = NULL;
	cfg *c = NULL;
	cfg_err rc;

	memset(&e, 0, sizeof(e));
	rc = cfg_parse_env((const char *)data, size, "fuzz.env", take, &e,
	    &errs);
	if ((rc == CFG_OK) != (errs == NULL))
		abort();
	if (errs != NULL && errs[strlen(errs) - 1] != '\n')
		abort();
	free(errs);
	errs = NULL;
	rc = cfg_load(NULL, e.v, "/nonexistent/fuzz.conf", &c, &errs);
	if ((rc == CFG_OK) != (c != NULL))
		abort();
	cfg_free(c);
	free(errs);
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i]);
	return 0;
}
