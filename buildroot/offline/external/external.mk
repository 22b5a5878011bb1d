include $(sort $(wildcard $(BR2_EXTERNAL_KEEPLITE_OFFLINE_PATH)/package/*/*.mk))
