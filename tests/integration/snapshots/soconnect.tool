PID    PROCESS          FAM ADDRESS          PORT  LAT(us)  RESULT
19836  sockrec-fixture  2   127.0.0.1        46777 71       Success
19836  sockrec-fixture  2   127.0.0.1        46777 14       Success
19836  sockrec-fixture  2   127.0.0.1        46777 13       Success
19836  sockrec-fixture  2   127.0.0.1        46777 13       Success
19836  sockrec-fixture  2   127.0.0.1        46777 13       Success
19836  sockrec-fixture  10  ::1              40639 34       Success
19836  sockrec-fixture  10  ::1              40639 14       Success
19836  sockrec-fixture  10  ::1              40639 14       Success
19836  sockrec-fixture  2   127.0.0.1        60010 3        Success
19836  sockrec-fixture  2   127.0.0.1        60010 2        Success
19836  sockrec-fixture  2   127.0.0.1        60010 2        Success
19836  sockrec-fixture  2   127.0.0.1        60010 2        Success
19836  sockrec-fixture  2   127.0.0.1        1     39       Connection refused
