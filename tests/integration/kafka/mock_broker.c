/* mock_broker: a Kafka-protocol broker for integration tests, on 127.0.0.1.
 *
 * librdkafka's mock cluster speaks the real wire protocol over TCP; this wraps
 * it as a process a test can start, talk to and stop:
 *
 *   mock_broker <brokers> <topic> <partitions>
 *
 * prints "bootstrap <host:port,...>" on stdout once ready, then reads commands,
 * one per line, and answers "ok" or "error <reason>" to each:
 *   down <broker_id>                    the broker stops answering
 *   up <broker_id>                      and comes back
 *   errors <api_key> <count> <errcode>  the next <count> requests of that API fail
 *   rtt <broker_id> <ms>                delay the broker's responses
 *   topic <name> <partitions>           create another topic (the mock has no CreateTopics)
 * and exits when stdin closes (so a test that dies leaves no broker behind).
 * API keys: 0 Produce, 1 Fetch, 2 ListOffsets, 3 Metadata, 8 OffsetCommit,
 * 9 OffsetFetch, 10 FindCoordinator, 11 JoinGroup, 12 Heartbeat, 14 SyncGroup.
 * Limits of the mock: about 5 MiB or 100,000 batches kept per partition. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reply(rd_kafka_resp_err_t err) {
  if (err) printf("error %s\n", rd_kafka_err2str(err));
  else printf("ok\n");
  fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: mock_broker <brokers> <topic> <partitions>\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "mock_broker: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, atoi(argv[1]));
  if (!mc) {
    fprintf(stderr, "mock_broker: cannot create the mock cluster\n");
    return 1;
  }
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, argv[2], atoi(argv[3]), 1);
  if (err) {
    fprintf(stderr, "mock_broker: topic: %s\n", rd_kafka_err2str(err));
    return 1;
  }
  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);

  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32] = {0}, name[256] = {0};
    int a = 0, b = 0, c = 0;
    if (sscanf(line, "down %d", &a) == 1) {
      reply(rd_kafka_mock_broker_set_down(mc, a));
    } else if (sscanf(line, "up %d", &a) == 1) {
      reply(rd_kafka_mock_broker_set_up(mc, a));
    } else if (sscanf(line, "errors %d %d %d", &a, &b, &c) == 3) {
      for (int i = 0; i < b; i++) rd_kafka_mock_push_request_errors(mc, (int16_t)a, 1, (rd_kafka_resp_err_t)c);
      reply(RD_KAFKA_RESP_ERR_NO_ERROR);
    } else if (sscanf(line, "rtt %d %d", &a, &b) == 2) {
      reply(rd_kafka_mock_broker_set_rtt(mc, a, b));
    } else if (sscanf(line, "topic %255s %d", name, &a) == 2) {
      reply(rd_kafka_mock_topic_create(mc, name, a, 1));
    } else if (sscanf(line, "%31s", cmd) == 1) {
      printf("error unknown command %s\n", cmd);
      fflush(stdout);
    }
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
