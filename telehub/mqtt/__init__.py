"""MQTT: the one paho connection class and the topic contract."""
