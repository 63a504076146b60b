DROP TABLE ssf_streams;
