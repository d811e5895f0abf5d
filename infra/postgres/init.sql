-- One database per domain (DESIGN.md decision 6); used by compose.yaml's postgres container.
CREATE DATABASE csms_stations;
CREATE DATABASE csms_drivers;
CREATE DATABASE csms_billing;
CREATE DATABASE csms_monitoring;
CREATE DATABASE csms_api;
