/*
 * agent_test — what the loop's unit tests need besides agent.h: an agent
 * with a table of sinks of the test's own (sink.h), in the stead of the
 * real ones. With clock_set() (clock.h) a test drives the loop on a fake
 * clock. Not installed; not for the program.
 */
#ifndef AGENT_TEST_H
#define AGENT_TEST_H

#include <stddef.h>

#include "agent.h"
#include "sink.h"

/* As agent_new(), with sinks[0..n-1] (borrowed for the agent's life) in
 * the order the loop runs them. */
int agent_new_with(cfg *c, const sink_ops *const *sinks, size_t n,
    agent_t **out) __attribute__((warn_unused_result));

#endif
