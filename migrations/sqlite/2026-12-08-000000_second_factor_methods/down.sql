DROP TABLE second_factor_preferences;
DROP TABLE second_factor_methods;
