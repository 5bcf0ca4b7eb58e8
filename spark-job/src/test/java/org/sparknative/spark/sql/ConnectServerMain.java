package org.sparknative.spark.sql;

import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.connect.service.SparkConnectServer;
import org.apache.spark.sql.connect.service.SparkConnectService$;

/**
 * The Spark Connect server of {@link SparkConnectTest}, in a child JVM: Spark's own {@code SparkConnectServer} main
 * (what {@code sbin/start-connect-server.sh} runs), configured by {@code -Dspark.*} system properties as
 * {@code spark-submit --conf} would. Around it, two things for the test: the line {@code SPARK_CONNECT_PORT <port>}
 * on stdout once the server listens (it is started on port 0, a free port the system picks), and an exit when the
 * test JVM is gone ({@link ExitWithParent}).
 */
public final class ConnectServerMain {
    /** The line prefix that announces the port. */
    static final String PORT_LINE = "SPARK_CONNECT_PORT ";

    private ConnectServerMain() {
    }

    public static void main(String[] args) {
        ExitWithParent.watchStdin();
        Thread announce = new Thread(() -> {
            try {
                while (!SparkConnectService$.MODULE$.started() || SparkConnectService$.MODULE$.server() == null) {
                    TimeUnit.MILLISECONDS.sleep(50);
                }
                System.out.println(PORT_LINE + SparkConnectService$.MODULE$.localPort());
                System.out.flush();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "announce-connect-port");
        announce.setDaemon(true);
        announce.start();
        SparkConnectServer.main(args); // returns when the server stops
    }
}
