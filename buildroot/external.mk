include $(sort $(wildcard $(BR2_EXTERNAL_KEEPLITE_PATH)/package/*/*.mk))
